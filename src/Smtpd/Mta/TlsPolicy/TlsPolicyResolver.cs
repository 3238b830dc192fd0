using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Mta.TlsPolicy.Dane;
using Smtpd.Table;

namespace Smtpd.Mta.TlsPolicy;

/// <summary>
/// Chooses the TLS policy of a destination domain for MX relaying: the administrator's
/// <c>tls-policy &lt;table&gt;</c> entry for it (or its nearest <c>*.parent</c> entry), else
/// <c>tls-policy default</c>; with <c>auto</c> (the default), what the domain publishes: DANE
/// where its MX hosts have DNSSEC-validated TLSA records, else opportunistic TLS.
/// A smarthost (<c>relay host</c>) never comes here: its URL and options say its TLS.
/// </summary>
/// <param name="port">The port MX hosts are reached on: the TLSA records are those of <c>_PORT._tcp.HOST</c>.</param>
/// <param name="sts">Finds MTA-STS policies; null: none looked for (no DNSSEC-aware resolver, tests of the MTA alone).</param>
public sealed class TlsPolicyResolver(Ruleset ruleset, TableSet tables, IDnsResolver dns, int port, Sts.StsLookup? sts = null)
{
    public async Task<OutboundTlsPolicy> ResolveAsync(string domain, CancellationToken ct)
    {
        domain = domain.ToLowerInvariant();
        (TlsPolicyChoice choice, TlsPolicySource source, string detail) local;
        try { local = await LocalChoiceAsync(domain, ct); }
        catch (TableTempFailException ex)
        {
            return new OutboundTlsPolicy(domain, TlsPolicyMode.Opportunistic, TlsPolicySource.LocalTable, ex.Message)
                { Failure = $"TLS policy lookup failed: {ex.Message}" };
        }
        var (choice, source, detail) = local;
        switch (choice)
        {
            case TlsPolicyChoice.None: return new(domain, TlsPolicyMode.None, source, detail);
            case TlsPolicyChoice.Encrypt: return new(domain, TlsPolicyMode.Encrypt, source, detail);
            case TlsPolicyChoice.Verify: return new(domain, TlsPolicyMode.Verify, source, detail);
        }

        // An address literal has no DNS name to publish a policy under.
        bool literal = domain.StartsWith('[');
        var dane = literal || dns is not IDnssecResolver secure
            ? new DaneLookup.Result([], [], "no DNSSEC-aware resolver", null)
            : await new DaneLookup(secure).FindAsync(domain, port, ct);
        if (dane.Failure is { } failure)
            return new OutboundTlsPolicy(domain, TlsPolicyMode.Dane, TlsPolicySource.Dns, "DANE lookup failed")
                { Failure = failure, Discovery = new(Rpt.TlsRptResult.DnssecInvalid, failure) };
        if (dane.HasDane || dane.EncryptOnly.Count > 0)
            return new OutboundTlsPolicy(domain, TlsPolicyMode.Dane, TlsPolicySource.Dns,
                    $"DNSSEC-validated TLSA records for {dane.Sets.Count + dane.EncryptOnly.Count} MX host(s)")
                { Dane = dane.Sets, EncryptOnly = dane.EncryptOnly, DaneRequired = choice == TlsPolicyChoice.DaneOnly };

        string why = $"no DANE ({dane.NotSecure})";
        if (choice == TlsPolicyChoice.DaneOnly)
            return new OutboundTlsPolicy(domain, TlsPolicyMode.Dane, source, detail) { Failure = $"dane-only: {why}", DaneRequired = true };

        // MTA-STS where there is no DANE (RFC 8461 2: DANE wins where both are published).
        var found = literal || sts is null ? new Sts.StsLookup.Result(null, false, "not looked up") : await sts.FindAsync(domain, ct);
        if (found.Policy is { Mode: "enforce" or "testing" } policy)
        {
            // sts-only: the domain's policy is enforced even when it says testing.
            var mode = policy.Mode == "enforce" || choice == TlsPolicyChoice.StsOnly ? TlsPolicyMode.StsEnforce : TlsPolicyMode.StsTesting;
            return new OutboundTlsPolicy(domain, mode, found.FromCache ? TlsPolicySource.Cache : TlsPolicySource.Dns, $"{why}; MTA-STS {found.Detail}") { Sts = policy };
        }
        var discovery = found.RptResult is { } result ? new OutboundTlsPolicy.DiscoveryProblem(result, found.Detail) : null;
        if (choice == TlsPolicyChoice.StsOnly)
            return new OutboundTlsPolicy(domain, TlsPolicyMode.StsEnforce, source, detail) { Failure = $"sts-only: {found.Detail}", Discovery = discovery };
        return new OutboundTlsPolicy(domain, TlsPolicyMode.Opportunistic, found.FromCache ? TlsPolicySource.Cache : TlsPolicySource.Dns, $"{why}; {found.Detail}")
            { Discovery = discovery };
    }

    /// <summary>The table's entry for the domain or its nearest wildcard parent, else the default.</summary>
    async Task<(TlsPolicyChoice, TlsPolicySource, string)> LocalChoiceAsync(string domain, CancellationToken ct)
    {
        if (ruleset.TlsPolicyTable is { } name)
        {
            var table = tables[name];
            foreach (string key in Keys(domain))
            {
                string? value = await table.LookupAsync(TableService.TlsPolicy, key, ct);
                if (value is null) continue;
                if (!TlsPolicyChoices.TryParse(value.Trim(), out var choice))
                    throw new TableTempFailException(name, $"bad tls-policy value for \"{key}\": {TlsPolicyChoices.Problem(value)}");
                return (choice, TlsPolicySource.LocalTable, $"table {name}: {key} {TlsPolicyChoices.Name(choice)}");
            }
        }
        var fallback = ruleset.TlsPolicyDefault;
        return (fallback, TlsPolicySource.LocalDefault, $"tls-policy default {TlsPolicyChoices.Name(fallback)}");
    }

    /// <summary>"a.b.example" then "*.b.example", "*.example": the exact entry wins, then the nearest parent.</summary>
    static IEnumerable<string> Keys(string domain)
    {
        yield return domain;
        for (int dot = domain.IndexOf('.'); dot >= 0; dot = domain.IndexOf('.', dot + 1))
            yield return "*" + domain[dot..];
    }
}
