namespace Smtpd.Stats;

/// <summary>The kinds of value a statistic holds (OpenSMTPD's stat_value types).</summary>
public enum StatKind { Counter, Timestamp, Duration }

/// <summary>A statistic as it was last pushed.</summary>
public readonly record struct StatValue(StatKind Kind, long Value);

/// <summary>
/// Where statistics go (seed 000/002: stat backends). Components push values and never read them
/// back: no decision depends on a statistic. Implementations are safe to call from any thread.
/// </summary>
public interface IStatBackend : IDisposable
{
    void Increment(string key, long by = 1);
    void Decrement(string key, long by = 1);
    void SetTimestamp(string key, DateTimeOffset when);
    void SetDuration(string key, TimeSpan duration);
    /// <summary>
    /// A gauge read when statistics are shown, for a count a component already keeps (open MTA
    /// sessions): pushing every change would duplicate its bookkeeping. The reader must be cheap
    /// and safe to call from any thread.
    /// </summary>
    void Gauge(string key, Func<long> read);
    /// <summary>Everything, for <c>smtpctl show stats</c> and <c>monitor</c>.</summary>
    IReadOnlyDictionary<string, StatValue> Snapshot();
}
