using Smtpd.Lookup.Dns;

namespace Smtpd.Mta.TlsPolicy.Sts;

/// <summary>
/// Finds a domain's MTA-STS policy (RFC 8461 3 and 5.1): the <c>_mta-sts</c> TXT record says
/// whether there is one and its id; a cached policy still fresh is used while the id is the
/// same, or when the TXT record or the web server cannot be reached, or the record is gone;
/// otherwise the policy is fetched and cached.
/// </summary>
/// <param name="log">Where fetched policies and failed fetches are told; null: nowhere.</param>
public sealed class StsLookup(IDnssecResolver dns, IStsPolicySource fetcher, StsCache cache, TimeProvider time, SmtpdLog? log = null)
{
    /// <summary>
    /// The daemon's lookup: one web client and one cache for every configuration a reload
    /// makes; null when the resolver cannot say what DNSSEC says (no MTA-STS then either, as
    /// the TXT record comes through the same resolver).
    /// </summary>
    public static StsLookup? For(IDnsResolver dns, SmtpdSettings settings, TimeProvider time, SmtpdLog? log) =>
        dns is IDnssecResolver secure ? new StsLookup(secure, new StsFetcher(dns), new StsCache(settings.Paths?.Spool), time, log) : null;

    /// <summary>What was found: the policy (null: none) and whether it came from the cache, or why there is none.</summary>
    public sealed record Result(StsPolicy? Policy, bool FromCache, string Detail)
    {
        /// <summary>
        /// The domain published a policy (its TXT record) that could not be had, and no cached one
        /// stands in: what TLS-RPT reports of it (RFC 8460 4.3.2.1: sts-policy-fetch-error or sts-policy-invalid).
        /// </summary>
        public string? RptResult { get; init; }
    }

    public async Task<Result> FindAsync(string domain, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var cached = cache.Get(domain) is { } entry && entry.FreshAt(now) ? entry : null;
        StsTxtRecord? txt;
        try
        {
            var answer = await dns.QueryDnssecAsync($"_mta-sts.{domain}", DnsRecordType.Txt, ct);
            txt = StsTxtRecord.Find(answer.Records.OfType<DnsAnswer.Txt>().Select(r => r.Text));
        }
        catch (DnsTempFailException ex)
        {
            return cached is not null ? FromCache(cached, $"TXT lookup failed ({ex.Message})") : new Result(null, false, $"no MTA-STS (TXT lookup failed: {ex.Message})");
        }
        if (txt is null)
            return cached is not null ? FromCache(cached, "no TXT record now") : new Result(null, false, "no MTA-STS record");
        if (cached is not null && cached.Id == txt.Id) return FromCache(cached, "TXT id unchanged");

        string text;
        try { text = await fetcher.FetchAsync(domain, ct); }
        catch (StsFetchException ex)
        {
            log?.Info($"smtp-out: MTA-STS policy of {domain} (id {txt.Id}) not fetched: {ex.Message}{(cached is not null ? "; the cached one holds" : "")}");
            return cached is not null ? FromCache(cached, $"fetch failed ({ex.Message})")
                : new Result(null, false, $"no MTA-STS policy: {ex.Message}") { RptResult = Rpt.TlsRptResult.StsPolicyFetchError };
        }
        if (StsPolicy.Parse(text, out string? problem) is not { } policy)
            return cached is not null ? FromCache(cached, $"fetched policy invalid: {problem}")
                : new Result(null, false, $"invalid MTA-STS policy: {problem}") { RptResult = Rpt.TlsRptResult.StsPolicyInvalid };
        cache.Put(domain, new StsCache.Entry(txt.Id, now, text, policy));
        log?.Info($"smtp-out: MTA-STS policy of {domain} fetched: id {txt.Id}, {policy}");
        return new Result(policy, false, $"id {txt.Id}, fetched: {policy}");
    }

    static Result FromCache(StsCache.Entry entry, string why) =>
        new(entry.Policy, true, $"id {entry.Id}, cached {entry.Fetched:yyyy-MM-dd HH:mm:ss}Z ({why}): {entry.Policy}");
}
