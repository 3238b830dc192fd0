using Smtpd.Admin;

namespace Smtpd;

// admin listen on: the web page and its API, bound before the privilege drop as the metrics are.
public sealed partial class SmtpdDaemon
{
    AdminServer? _adminServer;
    StatsHistory? _statsHistory;
    /// <summary>The control component's context: the admin page reads and acts as smtpctl does.</summary>
    Control.ControlContext? _controlContext;

    /// <summary>Where the admin page is served; null without <c>admin listen on</c>.</summary>
    public System.Net.IPEndPoint? AdminEndPoint => _adminServer?.EndPoint;

    void BindAdmin()
    {
        if (Ruleset.Admin is not { } config || _controlContext is not { } control) return;
        // Kept across restarts beside the statistics when they are (-B stat=sqlite).
        var store = _settings.Backends.Stat is "sqlite" ? new SqliteStatsHistoryStore(Path.Combine(Paths.Spool, "stats.sqlite")) : null;
        _statsHistory = new StatsHistory(_bus.Stats, _time, store);
        try
        {
            _adminServer = new AdminServer(config.EndPoint, config.AuthTable, () => _live.Current.Authenticator,
                new Control.ControlViews(control), _bus, _statsHistory, _log);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException($"admin listen on {config.EndPoint}: cannot bind: {ex.Message}");
        }
    }

    void StartAdmin()
    {
        if (_adminServer is null || _statsHistory is null) return;
        _running.Add(_statsHistory.RunAsync(_settings.AdminSampleInterval, _stop.Token));
        _running.Add(_adminServer.RunAsync(_stop.Token));
        _log.Info($"info: admin page served on http://{_adminServer.EndPoint}/");
    }
}
