using System.Net;
using Smtpd.Lookup.Dns;
using Smtpd.Stats;

namespace Smtpd.Metrics;

/// <summary>
/// Times every lookup of the resolver it wraps for <c>smtpd_dns_lookup_seconds</c>, failures
/// included (a timeout is the lookup an administrator most needs to see). Put in place only
/// when metrics are served.
/// </summary>
public sealed class TimedDnsResolver(IDnsResolver inner, IStatBackend stats, TimeProvider time) : IDnsResolver, IDnssecResolver
{
    /// <summary>DANE and MTA-STS lookups pass through (timed as well); a resolver that cannot tell DNSSEC says nothing is validated.</summary>
    public Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct) =>
        Timed(type.ToString().ToLowerInvariant(), () => DnssecPassThrough.QueryAsync(inner, name, type, ct));

    public Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct) => Timed("mx", () => inner.LookupMxAsync(domain, ct));
    public Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct) => Timed("a", () => inner.ResolveHostAsync(host, ct));
    public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => Timed("ptr", () => inner.ReverseAsync(address, ct));

    // The clock starts before the lookup is called: its synchronous part (a cache, a send) counts too.
    async Task<T> Timed<T>(string type, Func<Task<T>> lookup)
    {
        long started = time.GetTimestamp();
        try { return await lookup(); }
        finally { stats.DnsLookup(type, time.GetElapsedTime(started)); }
    }
}
