using System.Net;
using DnsClient;
using DnsClient.Protocol;

namespace Smtpd.Lookup.Dns;

/// <summary>
/// MX and address lookups with DnsClient. Name servers come from /etc/resolv.conf, or from
/// <c>SMTPD_RESOLVER</c> (<c>ADDRESS[:PORT]</c>, for tests and split-horizon setups).
/// Missing MX records mean the implicit MX (RFC 5321 5.1); a lone "." MX is a null MX (RFC 7505).
/// </summary>
public sealed class DnsResolver : IDnsResolver
{
    readonly LookupClient _client;

    public DnsResolver(IReadOnlyList<IPEndPoint>? servers = null)
    {
        var options = servers is { Count: > 0 }
            ? new LookupClientOptions(servers.Select(s => new NameServer(s)).ToArray())
            : new LookupClientOptions();
        options.Timeout = TimeSpan.FromSeconds(5);
        options.Retries = 2;
        options.ThrowDnsErrors = false;
        options.UseCache = true;
        options.ContinueOnDnsError = false;
        options.ContinueOnEmptyResponse = false;
        _client = new LookupClient(options);
    }

    public static DnsResolver FromEnvironment()
    {
        string? setting = Environment.GetEnvironmentVariable("SMTPD_RESOLVER");
        if (string.IsNullOrWhiteSpace(setting)) return new DnsResolver();
        if (!IPEndPoint.TryParse(setting, out var endpoint))
            throw new InvalidOperationException($"SMTPD_RESOLVER: '{setting}' is not ADDRESS[:PORT]");
        if (endpoint.Port == 0) endpoint.Port = 53;
        return new DnsResolver([endpoint]);
    }

    public async Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct)
    {
        IDnsQueryResponse response;
        try { response = await _client.QueryAsync(domain, QueryType.MX, QueryClass.IN, ct); }
        catch (DnsResponseException ex) { return new MxLookup.Temporary($"DNS error for {domain}: {ex.Message}"); }

        switch (response.Header.ResponseCode)
        {
            case DnsHeaderResponseCode.NoError: break;
            case DnsHeaderResponseCode.NotExistentDomain: return new MxLookup.Permanent($"Domain {domain} does not exist");
            default: return new MxLookup.Temporary($"DNS error for {domain}: {response.Header.ResponseCode}");
        }

        var mx = response.Answers.MxRecords().ToList();
        if (mx.Count == 1 && (mx[0].Exchange.Value is "." or ""))
            return new MxLookup.Permanent($"Domain {domain} does not accept mail (null MX)");
        if (mx.Count == 0)
            return new MxLookup.Found([new MxHost(domain, 0)]); // implicit MX: the domain's own addresses

        return new MxLookup.Found(mx
            .Where(r => r.Exchange.Value is not ("." or ""))
            .Select(r => new MxHost(r.Exchange.Value.TrimEnd('.'), r.Preference))
            .OrderBy(h => h.Preference)
            .ToList());
    }

    public async Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal)) return [literal];
        var addresses = new List<IPAddress>();
        string? failure = null;
        foreach (var type in new[] { QueryType.A, QueryType.AAAA })
        {
            try
            {
                var response = await _client.QueryAsync(host, type, QueryClass.IN, ct);
                if (response.Header.ResponseCode is DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain)
                    addresses.AddRange(response.Answers.OfType<AddressRecord>().Select(a => a.Address));
                else
                    failure = $"DNS error for {host}: {response.Header.ResponseCode}";
            }
            catch (DnsResponseException ex) { failure = $"DNS error for {host}: {ex.Message}"; }
        }
        // One family answering is enough; with none and an error, the answer is "try later".
        if (addresses.Count == 0 && failure is not null) throw new DnsTempFailException(failure);
        return addresses;
    }

    /// <summary>
    /// The client's reverse DNS name (PTR) and whether it is forward-confirmed (one of the name's
    /// A/AAAA records is the address). Null name when there is none or the lookup failed.
    /// </summary>
    public async Task<(string? Name, bool Confirmed)> ReverseAsync(IPAddress address, CancellationToken ct)
    {
        try
        {
            var response = await _client.QueryReverseAsync(address, ct);
            string? name = response.Answers.PtrRecords().Select(r => r.PtrDomainName.Value.TrimEnd('.')).FirstOrDefault(n => n.Length > 0);
            if (name is null) return (null, false);
            try { return (name, (await ResolveHostAsync(name, ct)).Contains(address)); }
            catch (DnsTempFailException) { return (name, false); }
        }
        catch (DnsResponseException) { return (null, false); }
    }
}
