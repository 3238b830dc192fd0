using Smtpd.Lookup.Dns;

namespace Smtpd.Mta.TlsPolicy.Dane;

/// <summary>
/// Finds a domain's DANE policy (RFC 7672 2.2): its MX records must be DNSSEC-validated, then
/// each MX host whose address records are validated too has its TLSA records looked up at
/// <c>_PORT._tcp.HOST</c>. A host with a validated, usable set is authenticated by DANE; one
/// whose validated set has no usable record still needs TLS; the others fall back. A TLSA
/// lookup that fails for a host with validated addresses is a temporary failure, never a
/// downgrade (2.2.2).
/// </summary>
public sealed class DaneLookup(IDnssecResolver dns)
{
    /// <summary>What was found for a domain; <see cref="NotSecure"/> says why there is no DANE.</summary>
    public sealed record Result(Dictionary<string, TlsaSet> Sets, HashSet<string> EncryptOnly, string? NotSecure, string? Failure)
    {
        public bool HasDane => Sets.Count > 0;
    }

    public async Task<Result> FindAsync(string domain, int port, CancellationToken ct)
    {
        var sets = new Dictionary<string, TlsaSet>(StringComparer.OrdinalIgnoreCase);
        var encryptOnly = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        DnssecAnswer mx;
        try { mx = await dns.QueryDnssecAsync(domain, DnsRecordType.Mx, ct); }
        catch (DnsTempFailException ex) { return new Result(sets, encryptOnly, null, ex.Message); }
        if (!mx.Exists) return new Result(sets, encryptOnly, $"{domain} does not exist", null);
        if (!mx.Secure) return new Result(sets, encryptOnly, mx.Why, null);

        // No MX: the domain itself is the host (RFC 5321 5.1), as the MTA's route.
        var hosts = mx.Records.OfType<DnsAnswer.Mx>().Select(r => r.Exchange.TrimEnd('.')).Where(h => h.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (hosts.Count == 0) hosts.Add(domain);
        var notes = new List<string>();
        foreach (string host in hosts)
        {
            try
            {
                var address = await dns.QueryDnssecAsync(host, DnsRecordType.A, ct);
                if (address.Records.Count == 0) address = await dns.QueryDnssecAsync(host, DnsRecordType.Aaaa, ct);
                if (!address.Secure) { notes.Add($"{host}: {address.Why}"); continue; }
                var tlsa = await dns.QueryDnssecAsync($"_{port}._tcp.{host}", DnsRecordType.Tlsa, ct);
                if (!tlsa.Secure) { notes.Add($"{host}: {tlsa.Why}"); continue; }
                var set = TlsaSet.From(tlsa.Records.OfType<DnsAnswer.Tlsa>());
                if (set.HasUsable) sets[host] = set;
                else if (set.Published > 0) encryptOnly.Add(host);
                else notes.Add($"{host}: no TLSA record");
            }
            catch (DnsTempFailException ex) { return new Result(sets, encryptOnly, null, $"TLSA lookup for {host} failed: {ex.Message}"); }
        }
        return new Result(sets, encryptOnly, sets.Count > 0 ? null : notes.Count > 0 ? string.Join("; ", notes) : "no TLSA record", null);
    }
}
