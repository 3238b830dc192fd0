using System.Net;
using DnsClient;

namespace Smtpd.Lookup.Dns;

// DNSSEC status of answers, for DANE (RFC 7672 and Postfix's choice): we validate nothing
// ourselves; a validating resolver on this host says it did (the AD bit, asked for with DO).
// AD from a resolver across a network proves nothing (anyone on the path can set it), so it
// counts only when every server we may ask is on loopback.
public sealed partial class DnsResolver : IDnssecResolver
{
    public async Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct)
    {
        var state = Current();
        var query = QueryTypeOf(type);
        var response = await QueryAsync(state, name, query, ct, dnssec: true);
        if (response.Header.ResponseCode is not (DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain))
            throw new DnsTempFailException($"DNS error for {name} {query}: {response.Header.ResponseCode}");
        bool exists = response.Header.ResponseCode == DnsHeaderResponseCode.NoError;
        string? why = UntrustedServer(state.Conf) is { } remote ? $"the resolver {remote} is not on loopback: its AD bit is not trusted"
            : !response.Header.IsAuthenticData ? $"the answer for {name} {query} is not DNSSEC-validated (no AD bit)"
            : null;
        return new DnssecAnswer(Records(response, type), why is null, exists, why);
    }

    /// <summary>The first server that is not on loopback, or null when all are.</summary>
    static IPEndPoint? UntrustedServer(ResolvConf conf) => conf.Servers.FirstOrDefault(s => !IPAddress.IsLoopback(s.Address));
}
