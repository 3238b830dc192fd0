using Smtpd.Stats;

namespace Smtpd.Control.Json;

/// <summary>
/// <c>smtpctl show stats -j</c> (and the admin API's statistics): the daemon's uptime and every
/// statistic of the stat backend under the key <c>show stats</c> prints (OpenSMTPD's dotted names).
/// Counters and timestamps are integers, durations seconds with a fraction.
/// </summary>
public sealed record StatsReport
{
    public required long Time { get; init; }
    public required string TimeIso { get; init; }
    public required long Started { get; init; }
    public required string StartedIso { get; init; }
    /// <summary>Seconds since the daemon started (show stats' uptime).</summary>
    public required long Uptime { get; init; }
    /// <summary>The same as show stats' uptime.human, e.g. 1h2m3s.</summary>
    public required string UptimeHuman { get; init; }
    public required SortedDictionary<string, decimal> Stats { get; init; }

    public static StatsReport From(IReadOnlyDictionary<string, StatValue> snapshot, DateTimeOffset started, DateTimeOffset now)
    {
        var stats = new SortedDictionary<string, decimal>(StringComparer.Ordinal);
        foreach (var (key, value) in snapshot)
            stats[key] = value.Kind == StatKind.Duration ? value.Value / (decimal)TimeSpan.TicksPerSecond : value.Value;
        return new StatsReport
        {
            Time = JsonTime.Unix(now),
            TimeIso = JsonTime.Iso(now),
            Started = JsonTime.Unix(started),
            StartedIso = JsonTime.Iso(started),
            Uptime = (long)(now - started).TotalSeconds,
            UptimeHuman = Durations.Format(now - started),
            Stats = stats,
        };
    }
}
