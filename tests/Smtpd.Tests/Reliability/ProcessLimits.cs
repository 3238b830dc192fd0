using System.Runtime.InteropServices;

namespace Smtpd.Tests.Reliability;

/// <summary>The test process's own descriptor limit: tests that hold thousands of connections raise it.</summary>
public static partial class ProcessLimits
{
    [StructLayout(LayoutKind.Sequential)]
    struct RLimit { public ulong Current, Max; }

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit")]
    private static partial int SetRLimit(int resource, in RLimit limit);

    const int RLIMIT_NOFILE = 7;

    /// <summary>Resident memory of a process, in bytes (VmRSS).</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        return 0;
    }

    /// <summary>Raises the soft limit towards <paramref name="wanted"/> (never above the hard one); returns the soft limit now.</summary>
    public static int RaiseFileLimit(int wanted)
    {
        if (GetRLimit(RLIMIT_NOFILE, out var l) != 0) return 0;
        if (l.Current < (ulong)wanted)
        {
            // Root may raise the hard limit too; others only up to it.
            var raised = new RLimit { Current = (ulong)wanted, Max = Math.Max(l.Max, (ulong)wanted) };
            if (SetRLimit(RLIMIT_NOFILE, raised) != 0) raised = new RLimit { Current = Math.Min((ulong)wanted, l.Max), Max = l.Max };
            if (raised.Current > l.Current && SetRLimit(RLIMIT_NOFILE, raised) == 0) l = raised;
        }
        return (int)Math.Min(l.Current, int.MaxValue);
    }
}
