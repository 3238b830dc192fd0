using System.Net;
using Smtpd.Lookup.Dns;

namespace Smtpd.Chaos;

/// <summary>DNS answers that may come late or not at all (as a SERVFAIL would): the MTA retries.</summary>
public sealed class ChaosDns(IDnsResolver inner, ChaosMonkey monkey) : IDnsResolver, IDnssecResolver
{
    /// <summary>DANE and MTA-STS lookups: no fault of their own (the MX and host lookups around them fail).</summary>
    public Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct) =>
        DnssecPassThrough.QueryAsync(inner, name, type, ct);

    public async Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct)
    {
        await monkey.PauseAsync("dns.mx", ct);
        return monkey.Fails("dns.mx")
            ? new MxLookup.Temporary($"chaos: injected DNS failure for {domain}")
            : await inner.LookupMxAsync(domain, ct);
    }

    public async Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct)
    {
        await monkey.PauseAsync("dns.host", ct);
        if (monkey.Fails("dns.host")) throw new DnsTempFailException($"chaos: injected DNS failure for {host}");
        return await inner.ResolveHostAsync(host, ct);
    }

    /// <summary>Client names are asked as they are: a failure there only costs the client its name.</summary>
    public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => inner.ReverseAsync(address, ct);
}
