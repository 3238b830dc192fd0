namespace Smtpd;

/// <summary>
/// Gives memory back once a burst of work is over. The GC keeps the regions a load made it use
/// (a 5-session burst left the daemon's heap at about 13 MB, mostly free), so a server that was
/// busy for a minute would hold that memory all night. When a whole interval passes with almost no
/// allocation after one with work, one aggressive collection returns what is free to the system.
/// It never runs while mail moves (it waits for a quiet interval) and at most once per burst.
/// </summary>
/// <param name="allocated">Bytes allocated so far (the process's, by default; a test gives its own count).</param>
public sealed class IdleMemoryTrim(TimeProvider time, SmtpdLog log, Func<long>? allocated = null)
{
    readonly Func<long> _allocated = allocated ?? (() => GC.GetTotalAllocatedBytes());

    /// <summary>How long the daemon must be quiet, and how often it looks.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    /// <summary>Allocation in one interval below which the daemon counts as quiet (an idle daemon's timers allocate little).</summary>
    const long QuietBytes = 256 * 1024;

    public async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Interval, time);
        long last = _allocated();
        bool worked = false;
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                long now = _allocated();
                bool quiet = now - last < QuietBytes;
                last = now;
                if (!quiet) { worked = true; continue; }
                if (!worked) continue;
                worked = false;
                long before = Environment.WorkingSet;
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                log.Debug($"memory: quiet after work, heap trimmed (working set {before / 1024} -> {Environment.WorkingSet / 1024} KiB)");
            }
        }
        catch (OperationCanceledException) { }
    }
}
