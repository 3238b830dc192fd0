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
                new Control.ControlViews(control), _bus, _statsHistory, _log, AdminTls(config));
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException($"admin listen on {config.EndPoint}: cannot bind: {ex.Message}");
        }
    }

    /// <summary><c>tls pki NAME</c>: that pki's certificate (read before the privilege drop, as the listeners' are).</summary>
    System.Net.Security.SslServerAuthenticationOptions? AdminTls(Config.AdminListenerConfig config)
    {
        if (config.Pki is null) return null;
        var pki = Ruleset.Pkis[config.Pki];
        if (pki.CertificateFile is null || pki.KeyFile is null)
            throw new InvalidOperationException($"admin listen on {config.EndPoint}: pki {config.Pki} needs a certificate and a key");
        var certificate = Smtp.Tls.CertificateLoader.Load(pki.CertificateFile, pki.KeyFile, pki.Location);
        return new System.Net.Security.SslServerAuthenticationOptions
        {
            ServerCertificateContext = System.Net.Security.SslStreamCertificateContext.Create(certificate.Leaf, certificate.Intermediates, offline: true),
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
        };
    }

    void StartAdmin()
    {
        if (_adminServer is null || _statsHistory is null) return;
        _running.Add(_statsHistory.RunAsync(_settings.AdminSampleInterval, _stop.Token));
        _running.Add(_adminServer.RunAsync(_stop.Token));
        _log.Info($"info: admin page served on {_adminServer.Scheme}://{_adminServer.EndPoint}/");
    }
}
