using Prometheus;
using Smtpd.Stats;

namespace Smtpd.Metrics;

/// <summary>
/// The metric families of <c>GET /metrics</c>, in one registry of our own (not prometheus-net's
/// default, which would also start event-counter and meter listeners). What the flat statistics
/// already count (bounces, expiries, the queue's gauges) is read from them when scraped, so
/// the two views never disagree; what needs labels comes from the labelled events of
/// <see cref="IStatBackend"/>. Created only when smtpd.conf has <c>metrics listen on</c>.
/// </summary>
public sealed class SmtpdMetrics
{
    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    internal readonly Counter Sessions;
    internal readonly Gauge SessionsActive;
    internal readonly Counter Commands;
    internal readonly Counter MessagesReceived;
    internal readonly Histogram MessageSize;
    internal readonly Counter Deliveries;
    internal readonly Histogram DeliveryDelay;
    internal readonly Counter TlsSessions;
    internal readonly Counter AuthResults;
    internal readonly Counter FilterVerdicts;
    internal readonly Histogram DnsLookups;
    readonly Counter _heldAccepts;
    Func<long>? _readHeldAccepts;
    readonly Counter _bounces, _expired;
    readonly Gauge _queue, _queueOldest, _spoolFree;

    /// <param name="stats">The flat statistics, read at each scrape.</param>
    /// <param name="spool">The spool directory, for the free space; null: not reported (ram queue).</param>
    public SmtpdMetrics(IStatBackend stats, string? spool)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        Sessions = f.CreateCounter("smtpd_sessions_total", "SMTP sessions accepted, by listener (tag, or address:port; local for the enqueue socket).", "listener");
        SessionsActive = f.CreateGauge("smtpd_sessions_active", "SMTP sessions open now, by listener.", "listener");
        Commands = f.CreateCounter("smtpd_commands_total", "SMTP commands answered, by verb and reply class (DATA by its final reply, after the message).", "verb", "class");
        MessagesReceived = f.CreateCounter("smtpd_messages_received_total", "Messages accepted into the queue, by listener.", "listener");
        MessageSize = f.CreateHistogram("smtpd_message_size_bytes", "Size of the messages accepted.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1024, 4, 10) });
        Deliveries = f.CreateCounter("smtpd_deliveries_total", "Delivery tries, by transport (mda, mta, lmtp) and result (ok, tempfail, permfail).", "transport", "result");
        DeliveryDelay = f.CreateHistogram("smtpd_delivery_delay_seconds", "Time from receipt to the final result (ok or permfail) of a delivery.",
            new HistogramConfiguration { LabelNames = ["transport"], Buckets = Histogram.ExponentialBuckets(0.01, 4, 12) });
        _bounces = f.CreateCounter("smtpd_bounces_total", "Bounce and delay reports queued.");
        _expired = f.CreateCounter("smtpd_expired_total", "Envelopes that expired in the queue.");
        _queue = f.CreateGauge("smtpd_queue_envelopes", "Envelopes in the queue, by state (pending, inflight, held, suspended).", "state");
        _queueOldest = f.CreateGauge("smtpd_queue_oldest_seconds", "Age of the oldest envelope in the queue; 0 when it is empty.");
        TlsSessions = f.CreateCounter("smtpd_tls_sessions_total", "TLS sessions established, by direction (in: with clients, out: with relays) and protocol version.", "direction", "version");
        AuthResults = f.CreateCounter("smtpd_auth_total", "AUTH exchanges, by result (ok, tempfail, permfail).", "result");
        FilterVerdicts = f.CreateCounter("smtpd_filter_verdicts_total", "Decisions of the configured filters, by filter name and verdict.", "filter", "verdict");
        DnsLookups = f.CreateHistogram("smtpd_dns_lookup_seconds", "DNS lookups of the daemon (mx, a: addresses of a host, ptr: a client's name), answered or not.",
            new HistogramConfiguration { LabelNames = ["type"], Buckets = Histogram.ExponentialBuckets(0.001, 4, 8) });
        _heldAccepts = f.CreateCounter("smtpd_fd_reserve_holds_total", "Times the listeners held back an accept to keep the file descriptor reserve.");
        if (spool is not null) _spoolFree = f.CreateGauge("smtpd_spool_free_bytes", "Free space for the spool's file system.");
        else _spoolFree = null!;
        DotNetStats.Register(Registry);

        Registry.AddBeforeCollectCallback(() =>
        {
            var now = stats.Snapshot();
            long Value(string key) => now.TryGetValue(key, out var v) ? v.Value : 0;
            _bounces.IncTo(Value(StatKeys.Bounce));
            if (_readHeldAccepts is { } held) _heldAccepts.IncTo(held());
            _expired.IncTo(Value(StatKeys.EnvelopeExpired));
            if (spool is not null)
            {
                try { _spoolFree.Set(new DriveInfo(spool).AvailableFreeSpace); }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException) { }
            }
        });
    }

    /// <summary>
    /// The queue's states and its oldest envelope, asked of the scheduler (which owns them) at each
    /// scrape: a summary it counts in place, not the envelope list <c>smtpctl show queue</c> gets.
    /// A scheduler that does not answer leaves the last values.
    /// </summary>
    public void ReadQueueFrom(Func<CancellationToken, Task<Scheduler.QueueSummary>> summary, TimeProvider time)
    {
        Registry.AddBeforeCollectCallback(async ct =>
        {
            Scheduler.QueueSummary queue;
            try { queue = await summary(ct); }
            catch (BusRequestException) { return; }
            _queue.WithLabels("pending").Set(queue.Pending);
            _queue.WithLabels("inflight").Set(queue.InFlight);
            // This scheduler holds nothing back for route limits (OpenSMTPD's "held"): always 0.
            _queue.WithLabels("held").Set(0);
            _queue.WithLabels("suspended").Set(queue.Suspended);
            _queueOldest.Set(queue.Oldest is { } oldest ? Math.Max(0, (time.GetUtcNow() - oldest).TotalSeconds) : 0);
        });
    }

    /// <summary>Where the count of accepts held back for the descriptor reserve is read at each scrape.</summary>
    public void CountHeldAccepts(Func<long> read) => _readHeldAccepts = read;
}
