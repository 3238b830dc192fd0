namespace Smtpd.Lookup.Dns;

/// <summary>
/// An answer and whether it may be trusted as DNSSEC-validated: the resolver set the AD bit and
/// is one we trust to have validated it (on loopback), as RFC 7672 needs for DANE.
/// </summary>
/// <param name="Exists">False when the name does not exist (NXDOMAIN): no records, as when it has none.</param>
/// <param name="Why">When not <paramref name="Secure"/>: why (for the policy's explanation).</param>
public sealed record DnssecAnswer(IReadOnlyList<DnsAnswer> Records, bool Secure, bool Exists, string? Why = null);

/// <summary>Queries whose DNSSEC status counts (DANE): what the MTA's TLS policy asks of the resolver.</summary>
public interface IDnssecResolver
{
    /// <exception cref="DnsTempFailException">No answer, or an error other than "no such name".</exception>
    Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct);
}

/// <summary>For resolvers that wrap another (metrics, fault injection): its DNSSEC answers, or "not validated" when it has none.</summary>
public static class DnssecPassThrough
{
    public static Task<DnssecAnswer> QueryAsync(IDnsResolver inner, string name, DnsRecordType type, CancellationToken ct) =>
        inner is IDnssecResolver secure
            ? secure.QueryDnssecAsync(name, type, ct)
            : Task.FromResult(new DnssecAnswer([], Secure: false, Exists: true, "the resolver cannot tell DNSSEC status"));
}
