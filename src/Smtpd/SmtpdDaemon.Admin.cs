using Smtpd.Admin;

namespace Smtpd;

// admin listen on: the web page and its API, bound before the privilege drop as the metrics are.
public sealed partial class SmtpdDaemon
{
    AdminServer? _adminServer;
    Smtp.Tls.SslCertificate? _adminCertificate;
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
                new Control.ControlViews(control), _bus, _statsHistory, _log, AdminTls(_adminCertificate), _time);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException($"admin listen on {config.EndPoint}: cannot bind: {ex.Message}");
        }
    }

    /// <summary><c>tls pki NAME</c>: the certificate the checked configuration loaded (before the privilege drop, as the listeners').</summary>
    System.Net.Security.SslServerAuthenticationOptions? AdminTls(Smtp.Tls.SslCertificate? certificate) =>
        certificate is null ? null : new System.Net.Security.SslServerAuthenticationOptions
        {
            ServerCertificateContext = System.Net.Security.SslStreamCertificateContext.Create(certificate.Leaf, certificate.Intermediates, offline: true),
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
        };

    void StartAdmin()
    {
        if (_adminServer is null || _statsHistory is null) return;
        _running.Add(_statsHistory.RunAsync(_settings.AdminSampleInterval, _stop.Token));
        _running.Add(_adminServer.RunAsync(_stop.Token));
        _log.Info($"info: admin page served on {_adminServer.Scheme}://{_adminServer.EndPoint}/");
    }
}
