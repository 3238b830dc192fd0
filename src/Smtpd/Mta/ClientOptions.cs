using System.Net;

namespace Smtpd.Mta;

/// <summary>How to talk to one next hop: our name, TLS policy, credentials, source address.</summary>
public sealed record ClientOptions(string Helo, MtaTls Tls, bool VerifyCertificate, NetworkCredential? Credentials, IReadOnlyList<IPAddress>? Sources)
{
    /// <summary>A source address of the destination's family from <c>src &lt;table&gt;</c>, taken in turn; null: the system chooses.</summary>
    public IPAddress? SourceFor(IPAddress destination)
    {
        var usable = Sources?.Where(a => a.AddressFamily == destination.AddressFamily).ToList();
        return usable is { Count: > 0 } ? usable[Random.Shared.Next(usable.Count)] : null;
    }

    /// <summary><c>helo-src &lt;t&gt;</c>: the HELO name for a source address (addrname service), else <see cref="Helo"/>.</summary>
    public Func<IPAddress, string?>? HeloBySource { get; init; }

    /// <summary>The table behind <see cref="HeloBySource"/>, for <see cref="Key"/>.</summary>
    public string? HeloSourceTable { get; init; }

    /// <summary>How long a remote may stay silent before we give up (RFC 5321 4.5.3.2: minutes).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Sessions with equal options to the same address can carry each other's mail.</summary>
    public string Key(IPEndPoint endpoint) =>
        $"{endpoint}|{Helo}|{Tls}|{VerifyCertificate}|{Credentials?.UserName}|{(Sources is null ? "" : string.Join(',', Sources))}|{HeloSourceTable}";
}
