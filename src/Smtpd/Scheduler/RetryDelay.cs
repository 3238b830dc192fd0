using Smtpd.Queue;

namespace Smtpd.Scheduler;

/// <summary>
/// The seeds' quadratic back-off, anchored at the envelope's creation as OpenSMTPD's ramqueue
/// does: tries are due at creation + k·n²/2 seconds (n = 1, 2, 3...), and after a failure the
/// next try is the first of those slots after it, never more than <see cref="Cap"/> later.
/// k is larger for relaying (a remote MX is given time to recover) than for local delivery.
/// The slot follows from the time of the last try, not from the retry count, so that quick
/// retries of a penalized route (a greylisting peer) do not push the envelope's later tries away.
/// </summary>
public static class RetryDelay
{
    /// <summary>k for relayed mail: 400·n² s, as OpenSMTPD's ramqueue (6 min 40 s, 26 min, 1 h...).</summary>
    public const int TransferK = 800;
    /// <summary>k for local delivery: 10·n² s.</summary>
    public const int DeliveryK = 20;
    public static readonly TimeSpan Cap = TimeSpan.FromHours(4);

    /// <summary>The n-th slot's distance from creation (k·n²/2), capped.</summary>
    public static TimeSpan After(EnvelopeType type, int retry)
    {
        double seconds = Half(type) * retry * retry;
        return seconds >= Cap.TotalSeconds ? Cap : TimeSpan.FromSeconds(seconds);
    }

    /// <summary>The first slot after <paramref name="lastTry"/>, at most <see cref="Cap"/> after it.</summary>
    public static DateTimeOffset NextTry(EnvelopeType type, DateTimeOffset creation, DateTimeOffset lastTry)
    {
        double half = Half(type);
        double since = Math.Max(0, (lastTry - creation).TotalSeconds);
        double n = Math.Floor(Math.Sqrt(since / half)) + 1;
        while (half * n * n <= since) n++;
        double offset = half * n * n;
        var capped = lastTry > DateTimeOffset.MaxValue - Cap ? DateTimeOffset.MaxValue : lastTry + Cap;
        // Seconds beyond what DateTimeOffset holds (an edited envelope) cannot overflow: the cap wins.
        if (offset >= (capped - creation).TotalSeconds) return capped;
        return creation + TimeSpan.FromSeconds(offset);
    }

    static double Half(EnvelopeType type) => (type == EnvelopeType.Mta ? TransferK : DeliveryK) / 2.0;
}
