using Smtpd.Config;

namespace Smtpd.Smtp.Tls;

/// <summary>How a listener uses TLS: not at all, STARTTLS offered or required, or implicit (smtps).</summary>
public enum TlsMode { None, StartTls, StartTlsRequired, Smtps }

/// <summary>Whether clients may or must authenticate, and against what.</summary>
public enum AuthMode { None, Required, Optional }

/// <summary>
/// The security options of one <c>listen on</c>, typed from the option strings the parser
/// keeps (<see cref="ListenerConfig.Options"/>): TLS mode, certificate sources, client
/// verification, authentication, the senders table and what goes in the Received header.
/// </summary>
public sealed record ListenerSecurity
{
    public TlsMode Tls { get; init; }
    /// <summary><c>tls-require verify</c> / <c>smtps verify</c>: clients must present a certificate our CA signed.</summary>
    public bool VerifyClient { get; init; }
    /// <summary>The <c>pki NAME</c> options, in order; the first is the default, SNI picks among them.</summary>
    public IReadOnlyList<string> PkiNames { get; init; } = [];
    /// <summary>The seed grammar's <c>certificate NAME</c>.</summary>
    public string? SeedCertificate { get; init; }
    public string? CaName { get; init; }
    public string? Protocols { get; init; }
    public string? Ciphers { get; init; }
    public AuthMode Auth { get; init; }
    /// <summary><c>auth &lt;table&gt;</c>: credentials come from this table instead of the system's users.</summary>
    public string? AuthTable { get; init; }
    public string? SendersTable { get; init; }
    public bool Masquerade { get; init; }
    /// <summary><c>received-auth</c>: name the authenticated user in the Received header.</summary>
    public bool ReceivedAuth { get; init; }
    /// <summary><c>mask-src</c>: leave the client's address and name out of the Received header.</summary>
    public bool MaskSource { get; init; }
    /// <summary><c>no-dsn</c>: do not offer DSN.</summary>
    public bool NoDsn { get; init; }

    public bool OffersTls => Tls != TlsMode.None;

    public static ListenerSecurity From(ListenerConfig listener)
    {
        var s = new ListenerSecurity();
        var pkis = new List<string>();
        foreach (string option in listener.Options)
        {
            string[] words = option.Split(' ', 2);
            string arg = words.Length > 1 ? words[1] : "";
            switch (words[0])
            {
                case "tls" or "ssl": s = s with { Tls = TlsMode.StartTls }; break;
                case "tls-require": s = s with { Tls = TlsMode.StartTlsRequired, VerifyClient = arg == "verify" }; break;
                case "smtps": s = s with { Tls = TlsMode.Smtps, VerifyClient = arg == "verify" }; break;
                case "pki": pkis.Add(arg); break;
                case "certificate": s = s with { SeedCertificate = arg }; break;
                case "ca": s = s with { CaName = arg }; break;
                case "protocols": s = s with { Protocols = arg }; break;
                case "ciphers": s = s with { Ciphers = arg }; break;
                case "auth" or "auth-optional":
                    s = s with
                    {
                        Auth = words[0] == "auth" ? AuthMode.Required : AuthMode.Optional,
                        AuthTable = arg.Length > 0 ? arg.Trim('<', '>') : null,
                    };
                    break;
                case "senders":
                    string[] parts = arg.Split(' ');
                    s = s with { SendersTable = parts[0].Trim('<', '>'), Masquerade = parts.Contains("masquerade") };
                    break;
                case "received-auth": s = s with { ReceivedAuth = true }; break;
                case "mask-src": s = s with { MaskSource = true }; break;
                case "no-dsn": s = s with { NoDsn = true }; break;
            }
        }
        return s with { PkiNames = pkis };
    }

    /// <summary>The listener options this class implements; RulesetSupport flags the others.</summary>
    public static readonly IReadOnlySet<string> Implemented = new HashSet<string>(StringComparer.Ordinal)
    {
        "tls", "ssl", "tls-require", "smtps", "pki", "certificate", "ca", "protocols", "ciphers",
        "auth", "auth-optional", "senders", "received-auth", "mask-src", "no-dsn", "filter",
    };
}
