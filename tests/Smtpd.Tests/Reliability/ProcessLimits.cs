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

    /// <summary>Raises the soft limit towards <paramref name="wanted"/> (never above the hard one); returns the soft limit now.</summary>
    public static int RaiseFileLimit(int wanted)
    {
        if (GetRLimit(RLIMIT_NOFILE, out var l) != 0) return 0;
        if (l.Current < (ulong)wanted)
        {
            var raised = new RLimit { Current = Math.Min((ulong)wanted, l.Max), Max = l.Max };
            if (SetRLimit(RLIMIT_NOFILE, raised) == 0) l = raised;
        }
        return (int)Math.Min(l.Current, int.MaxValue);
    }
}
