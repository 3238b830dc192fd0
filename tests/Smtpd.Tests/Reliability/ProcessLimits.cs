namespace Smtpd.Tests.Reliability;

/// <summary>Limits and memory of processes, for the tests that hold thousands of connections.</summary>
public static class ProcessLimits
{
    /// <summary>The test process takes as many descriptors as the hard limit allows, as smtpd does at start; returns its soft limit.</summary>
    public static int RaiseFileLimit() => DescriptorReserve.RaiseSoftLimit();

    /// <summary>Resident memory of a process, in bytes (VmRSS).</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        return 0;
    }
}
