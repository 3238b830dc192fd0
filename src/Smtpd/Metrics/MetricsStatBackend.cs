using System.Collections.Concurrent;
using Prometheus;
using Smtpd.Stats;

namespace Smtpd.Metrics;

/// <summary>
/// The statistics backend when metrics are served: every call goes to the backend chosen with
/// <c>-B stat=</c>, which stays the one store of <c>smtpctl show stats</c>; the labelled events
/// are also counted in <see cref="SmtpdMetrics"/>. Label children are looked up once and kept
/// (static factories: no closure per call), so an event costs a dictionary lookup and the
/// library's atomic add, and allocates nothing.
/// </summary>
public sealed class MetricsStatBackend(IStatBackend inner, SmtpdMetrics metrics) : IStatBackend
{
    public IStatBackend Inner => inner;

    public void Increment(string key, long by = 1) => inner.Increment(key, by);
    public void Decrement(string key, long by = 1) => inner.Decrement(key, by);
    public void SetTimestamp(string key, DateTimeOffset when) => inner.SetTimestamp(key, when);
    public void SetDuration(string key, TimeSpan duration) => inner.SetDuration(key, duration);
    public void Gauge(string key, Func<long> read) => inner.Gauge(key, read);
    public IReadOnlyDictionary<string, StatValue> Snapshot() => inner.Snapshot();
    public void Dispose() => inner.Dispose();
    public bool KeepsLabelledEvents => true;

    // Listeners come from the configuration: a handful of values, kept for the process's life.
    readonly ConcurrentDictionary<string, (Counter.Child Total, Gauge.Child Active, Counter.Child Messages)> _listeners = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<(string, int), Counter.Child> _commands = new();
    readonly ConcurrentDictionary<(string, OutcomeKind), Counter.Child> _deliveries = new();
    readonly ConcurrentDictionary<string, Histogram.Child> _delays = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<(string, string), Counter.Child> _tls = new();
    readonly ConcurrentDictionary<(string, string), Counter.Child> _filters = new();
    readonly ConcurrentDictionary<string, Histogram.Child> _dns = new(StringComparer.Ordinal);
    readonly Counter.Child[] _auth = [metrics.AuthResults.WithLabels("ok"), metrics.AuthResults.WithLabels("tempfail"), metrics.AuthResults.WithLabels("permfail")];

    (Counter.Child Total, Gauge.Child Active, Counter.Child Messages) Listener(string name) =>
        _listeners.GetOrAdd(name, static (n, m) => (m.Sessions.WithLabels(n), m.SessionsActive.WithLabels(n), m.MessagesReceived.WithLabels(n)), metrics);

    public void Session(string listener, int delta)
    {
        var l = Listener(listener);
        if (delta > 0) { l.Total.Inc(delta); l.Active.Inc(delta); }
        else l.Active.Dec(-delta);
    }

    public void Command(string verb, int code) =>
        _commands.GetOrAdd((verb, code / 100), static (k, m) => m.Commands.WithLabels(k.Item1, $"{k.Item2}xx"), metrics).Inc();

    public void MessageReceived(string listener, long size)
    {
        Listener(listener).Messages.Inc();
        metrics.MessageSize.Observe(size);
    }

    public void Delivery(string transport, OutcomeKind result, TimeSpan sinceReceipt)
    {
        _deliveries.GetOrAdd((transport, result), static (k, m) => m.Deliveries.WithLabels(k.Item1, ResultLabel(k.Item2)), metrics).Inc();
        if (result != OutcomeKind.TempFail)
            _delays.GetOrAdd(transport, static (t, m) => m.DeliveryDelay.WithLabels(t), metrics).Observe(Math.Max(0, sinceReceipt.TotalSeconds));
    }

    public void TlsSession(string direction, string version) =>
        _tls.GetOrAdd((direction, version), static (k, m) => m.TlsSessions.WithLabels(k.Item1, k.Item2), metrics).Inc();

    public void Auth(OutcomeKind result) => _auth[(int)result].Inc();

    public void FilterVerdict(string filter, string verdict) =>
        _filters.GetOrAdd((filter, verdict), static (k, m) => m.FilterVerdicts.WithLabels(k.Item1, k.Item2), metrics).Inc();

    public void DnsLookup(string type, TimeSpan took) =>
        _dns.GetOrAdd(type, static (t, m) => m.DnsLookups.WithLabels(t), metrics).Observe(took.TotalSeconds);

    static string ResultLabel(OutcomeKind result) => result switch
    {
        OutcomeKind.Ok => "ok",
        OutcomeKind.TempFail => "tempfail",
        _ => "permfail",
    };
}
