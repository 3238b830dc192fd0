using System.Net;

namespace Smtpd.Lookup.Dns;

/// <summary>A mail exchanger: host name and preference (lower is tried first).</summary>
public sealed record MxHost(string Name, int Preference);

/// <summary>What an MX lookup for a domain found.</summary>
public abstract record MxLookup
{
    /// <summary>The exchangers, lowest preference first (implicit MX: the domain itself, preference 0).</summary>
    public sealed record Found(IReadOnlyList<MxHost> Hosts) : MxLookup;
    /// <summary>Mail cannot be delivered there, ever: no such domain, or a null MX (RFC 7505).</summary>
    public sealed record Permanent(string Reason) : MxLookup;
    /// <summary>The DNS could not answer now (timeout, SERVFAIL): try again later.</summary>
    public sealed record Temporary(string Reason) : MxLookup;
}

/// <summary>The DNS could not answer now: never a reason for a permanent failure.</summary>
public sealed class DnsTempFailException(string message) : Exception(message);

/// <summary>The name resolution of the daemon: the MTA's, and the clients' names for sessions, filters and rules.</summary>
public interface IDnsResolver
{
    Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct);
    /// <summary>A and AAAA addresses of a host; empty when it has none.</summary>
    /// <exception cref="DnsTempFailException">The DNS could not answer now.</exception>
    Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct);
    /// <summary>A client's reverse name and whether it is forward-confirmed; never throws for DNS trouble.</summary>
    Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct);
}
