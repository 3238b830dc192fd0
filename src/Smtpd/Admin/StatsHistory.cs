using Smtpd.Stats;

namespace Smtpd.Admin;

/// <summary>
/// The admin page's time series: the statistics read once per interval (a minute; the
/// SMTPD_ADMIN_SAMPLE_INTERVAL test knob shortens it) on the daemon's clock, the last
/// <see cref="Capacity"/> readings kept in memory. Counters are cumulative; the graphs draw the
/// difference between two readings. With a <paramref name="store"/> (the sqlite stat backend),
/// the samples are loaded from it at start and written to it as they are taken.
/// </summary>
public sealed class StatsHistory(IStatBackend stats, TimeProvider time, SqliteStatsHistoryStore? store = null)
{
    /// <summary>Six hours of one-minute samples.</summary>
    public const int Capacity = 360;

    readonly Queue<StatsSample> _samples = new(store?.Load() ?? []);
    readonly Lock _lock = new();

    public StatsSample Read()
    {
        var s = stats.Snapshot();
        long Get(string key) => s.TryGetValue(key, out var v) ? v.Value : 0;
        return new StatsSample(time.GetUtcNow(), Get(StatKeys.SmtpMessage), Get(StatKeys.DeliveryOk),
            Get(StatKeys.DeliveryTempFail), Get(StatKeys.DeliveryPermFail), Get(StatKeys.Envelope));
    }

    public void Sample()
    {
        var sample = Read();
        lock (_lock)
        {
            _samples.Enqueue(sample);
            while (_samples.Count > Capacity) _samples.Dequeue();
        }
        store?.Append(sample);
    }

    /// <summary>The readings kept, oldest first.</summary>
    public IReadOnlyList<StatsSample> Samples()
    {
        lock (_lock) return [.. _samples];
    }

    /// <summary>Samples now, then once per <paramref name="interval"/> until stopped.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken ct)
    {
        Sample();
        try
        {
            while (true)
            {
                await Task.Delay(interval, time, ct);
                Sample();
            }
        }
        catch (OperationCanceledException) { }
    }
}
