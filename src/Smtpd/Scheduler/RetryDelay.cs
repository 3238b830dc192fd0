using Smtpd.Queue;

namespace Smtpd.Scheduler;

/// <summary>
/// The seeds' quadratic back-off: after the n-th temporary failure, wait d = k·n²/2 seconds.
/// k is larger for relaying (a remote MX is given time to recover) than for local delivery.
/// </summary>
public static class RetryDelay
{
    /// <summary>k for relayed mail: 400·n² s, as OpenSMTPD's ramqueue (6 min 40 s, 26 min, 1 h...).</summary>
    public const int TransferK = 800;
    /// <summary>k for local delivery: 10·n² s.</summary>
    public const int DeliveryK = 20;
    public static readonly TimeSpan Cap = TimeSpan.FromHours(4);

    public static TimeSpan After(EnvelopeType type, int retry)
    {
        long k = type == EnvelopeType.Mta ? TransferK : DeliveryK;
        double seconds = k * (double)retry * retry / 2;
        return seconds >= Cap.TotalSeconds ? Cap : TimeSpan.FromSeconds(seconds);
    }
}
