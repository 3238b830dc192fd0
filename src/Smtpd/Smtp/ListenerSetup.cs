using Smtpd.Config;
using Smtpd.Smtp.Tls;

namespace Smtpd.Smtp;

/// <summary>A listener with its security options typed and its certificates loaded.</summary>
public sealed record ListenerSetup(ListenerConfig Config, ListenerSecurity Security, ServerTls? Tls)
{
    /// <summary>
    /// Prepares every listener of the ruleset. Certificates and keys are read here, so that both
    /// <c>smtpd -n</c> and the start report a bad one by file name before anything listens.
    /// </summary>
    /// <param name="files">Where certificates and keys are read from; null: the disk.</param>
    /// <exception cref="TlsSetupException">A certificate, key or TLS option cannot be used.</exception>
    public static IReadOnlyList<ListenerSetup> LoadAll(Ruleset ruleset, ConfigFiles? files = null) =>
        ruleset.Listeners.Select(l =>
        {
            var security = ListenerSecurity.From(l);
            return new ListenerSetup(l, security, ServerTls.Load(ruleset, l, security, files));
        }).ToList();

    /// <summary>The port to bind: the configured one, 465 for smtps, else the daemon's default.</summary>
    public int PortOr(int defaultPort) => Config.Port ?? (Security.Tls == TlsMode.Smtps ? 465 : defaultPort);
}
