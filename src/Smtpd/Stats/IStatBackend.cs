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

    // Events with labels, pushed next to the flat keys above. The metrics endpoint breaks them
    // down (MetricsStatBackend); the text statistics keep OpenSMTPD's keys, so the stored backends
    // ignore them and cost one empty call when no metrics are served. Label values come from the
    // configuration or fixed sets (verbs, transports), never from what a client sends.

    /// <summary>Whether the events below are kept: a caller whose label costs something to build
    /// (a listener's address:port) asks first.</summary>
    bool KeepsLabelledEvents => false;
    /// <summary>A session began (+1) or ended (-1) on a listener (its tag, or address:port).</summary>
    void Session(string listener, int delta) { }
    /// <summary>A command got its reply; <paramref name="verb"/> is one of a fixed set.</summary>
    void Command(string verb, int code) { }
    /// <summary>A message was committed to the queue.</summary>
    void MessageReceived(string listener, long size) { }
    /// <summary>A delivery try ended; <paramref name="sinceReceipt"/> counts for final results only.</summary>
    void Delivery(string transport, OutcomeKind result, TimeSpan sinceReceipt) { }
    /// <summary>A TLS session was established ("in" or "out").</summary>
    void TlsSession(string direction, string version) { }
    /// <summary>An AUTH exchange ended (ok/tempfail/permfail).</summary>
    void Auth(OutcomeKind result) { }
    /// <summary>A filter of the configuration decided (proceed, junk, reject, disconnect, rewrite, failed...).</summary>
    void FilterVerdict(string filter, string verdict) { }
    /// <summary>A DNS lookup (mx, a, ptr) ended, answered or not.</summary>
    void DnsLookup(string type, TimeSpan took) { }
}
