using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Smtpd.Mta;

/// <summary>
/// How to talk to one next hop: our name, TLS policy, credentials, source address.
/// <see cref="VerifyCertificate"/>: the peer's certificate must chain to a trusted root (the
/// action's <c>ca</c>, else the system store) and name the host we connect to, or the session
/// fails; without it the check is still made and logged, never enforced (opportunistic TLS).
/// </summary>
public sealed record ClientOptions(string Helo, MtaTls Tls, bool VerifyCertificate, NetworkCredential? Credentials, IReadOnlyList<IPAddress>? Sources)
{
    /// <summary>A source address of the destination's family from <c>src &lt;table&gt;</c>, taken in turn; null: the system chooses.</summary>
    public IPAddress? SourceFor(IPAddress destination)
    {
        var usable = Sources?.Where(a => a.AddressFamily == destination.AddressFamily).ToList();
        return usable is { Count: > 0 } ? usable[Random.Shared.Next(usable.Count)] : null;
    }

    /// <summary><c>helo-src &lt;t&gt;</c>: the HELO name for a source address (addrname service), else <see cref="Helo"/>.</summary>
    public Func<IPAddress, CancellationToken, ValueTask<string?>>? HeloBySource { get; init; }

    /// <summary>The table behind <see cref="HeloBySource"/>, for <see cref="Key"/>.</summary>
    public string? HeloSourceTable { get; init; }

    /// <summary>The action's <c>ca NAME</c>: the only roots its peers' certificates may chain to; null: the system store.</summary>
    public string? CaName { get; init; }
    public X509Certificate2Collection? TrustedCas { get; init; }

    /// <summary>The destination's TLS policy (MX relaying), for the log's <c>tls=</c>; a smarthost's is opportunistic.</summary>
    public TlsPolicy.TlsPolicyMode Policy { get; init; } = TlsPolicy.TlsPolicyMode.Opportunistic;

    /// <summary>The next hop's usable TLSA records: its certificate must match one (RFC 7672), whatever <see cref="VerifyCertificate"/> says.</summary>
    public TlsPolicy.Dane.TlsaSet? Dane { get; init; }

    /// <summary>The options for one next hop of a route: DANE for a host with TLSA records, TLS for one whose records are all unusable.</summary>
    public ClientOptions For(NextHop hop) =>
        hop.Dane is { } dane ? this with { Tls = MtaTls.Required, Dane = dane }
        : hop.EncryptOnly && Tls == MtaTls.Opportunistic ? this with { Tls = MtaTls.Required }
        : this;

    /// <summary>How long a remote may stay silent before we give up (RFC 5321 4.5.3.2: minutes).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The MTA's clock: a session's timeouts and idle time count on it.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Sessions with equal keys can carry each other's mail. A session is opened under the
    /// options of the action that needed it: the TLS it insisted on, the certificate check (and
    /// for a verifying action the name checked and the roots trusted), the credentials it
    /// authenticated with, the source address and the HELO name. An action asking anything else
    /// opens its own session (a verifying action never rides one a <c>no-verify</c> action opened).
    /// </summary>
    public string Key(IPEndPoint endpoint, string hostName) =>
        $"{endpoint}|{Helo}|{Tls}|verify={(VerifyCertificate ? $"{hostName.ToLowerInvariant()}/{CaName}" : "no")}|{CredentialsKey}|{(Sources is null ? "" : string.Join(',', Sources))}|{HeloSourceTable}|{Policy}{(Dane is null ? "" : "/dane=" + Dane.Key)}";

    /// <summary>The login and a digest of the password: another password is another session, and no secret sits in the key.</summary>
    string CredentialsKey => Credentials is null ? ""
        : $"{Credentials.UserName}:{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Credentials.UserName + "\0" + Credentials.Password)))[..16]}";
}
