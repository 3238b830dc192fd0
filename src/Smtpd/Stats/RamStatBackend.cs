using System.Collections.Concurrent;

namespace Smtpd.Stats;

/// <summary>The default backend: values in memory, gone at restart.</summary>
public class RamStatBackend : IStatBackend
{
    protected readonly ConcurrentDictionary<string, StatValue> Values = new(StringComparer.Ordinal);

    public void Increment(string key, long by = 1) =>
        Values.AddOrUpdate(key, _ => new StatValue(StatKind.Counter, by), (_, v) => v with { Value = v.Value + by });

    public void Decrement(string key, long by = 1) => Increment(key, -by);

    public void SetTimestamp(string key, DateTimeOffset when) =>
        Values[key] = new StatValue(StatKind.Timestamp, when.ToUnixTimeSeconds());

    public void SetDuration(string key, TimeSpan duration) =>
        Values[key] = new StatValue(StatKind.Duration, duration.Ticks);

    readonly ConcurrentDictionary<string, Func<long>> _gauges = new(StringComparer.Ordinal);

    public void Gauge(string key, Func<long> read) => _gauges[key] = read;

    public IReadOnlyDictionary<string, StatValue> Snapshot()
    {
        var all = new Dictionary<string, StatValue>(Values);
        foreach (var (key, read) in _gauges) all[key] = new StatValue(StatKind.Counter, read());
        return all;
    }

    public virtual void Dispose() { }
}
