using Smtpd.Metrics;

namespace Smtpd;

// metrics listen on: the registry exists, and the statistics feed it, only when it is configured,
// so a server without it does no metrics work on the mail path.
public sealed partial class SmtpdDaemon
{
    SmtpdMetrics? _metrics;
    MetricsServer? _metricsServer;

    /// <summary>Where <c>GET /metrics</c> is served; null without <c>metrics listen on</c>.</summary>
    public System.Net.IPEndPoint? MetricsEndPoint => _metricsServer?.EndPoint;

    Stats.IStatBackend WithMetrics(Stats.IStatBackend stats, Config.Ruleset ruleset, string? spool)
    {
        if (ruleset.Metrics is null) return stats;
        _metrics = new SmtpdMetrics(stats, spool);
        _metrics.ReadQueueFrom(ct => _bus.RequestAsync<Scheduler.QueueSummary>(r => new Scheduler.SchedulerSummary(r), ct: ct), _time);
        return new MetricsStatBackend(stats, _metrics);
    }

    Lookup.Dns.IDnsResolver WithMetrics(Lookup.Dns.IDnsResolver dns, TimeProvider time) =>
        _metrics is null ? dns : new TimedDnsResolver(dns, _bus.Stats, time);

    /// <summary>Binds the metrics socket (before privileges are dropped, as the SMTP listeners).</summary>
    void BindMetrics()
    {
        if (Ruleset.Metrics is not { } config || _metrics is null) return;
        try { _metricsServer = new MetricsServer(config.EndPoint, _metrics.Registry, _log); }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException($"metrics listen on {config.EndPoint}: cannot bind: {ex.Message}");
        }
    }

    void StartMetrics()
    {
        if (_metricsServer is null) return;
        _running.Add(_metricsServer.RunAsync(_stop.Token));
        _log.Info($"info: metrics served on http://{_metricsServer.EndPoint}/metrics");
    }
}
