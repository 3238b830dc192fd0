using System.Net;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Queue;
using Smtpd.Table;

namespace Smtpd.Mta;

/// <summary>
/// Decides where the recipients of one action and domain go (OpenSMTPD's mta routes): the
/// relay host of the action (<c>relay via</c> / <c>host</c>) or the domain's MX hosts, lowest
/// preference first, equal preferences shuffled so they share the load; with <c>backup</c>, only
/// the MXs preferred to us. Also the session options: HELO name, TLS policy, credentials.
/// </summary>
/// <param name="settings">For the port of MX hosts (SMTPD_MTA_PORT) and the session timeout (SMTPD_MTA_TIMEOUT).</param>
/// <param name="time">The clock the sessions' timeouts count on.</param>
/// <param name="cas">The relay CAs loaded with the configuration; null: loaded here from <paramref name="ruleset"/>.</param>
/// <param name="log">Where MTA-STS testing policies' mismatches are reported; null: nowhere.</param>
/// <param name="sts">The MTA-STS lookup shared by every configuration; null: one of its own.</param>
public sealed class RoutePlanner(Ruleset ruleset, TableSet tables, IDnsResolver dns, SmtpdSettings? settings = null, TimeProvider? time = null, RelayCas? cas = null, SmtpdLog? log = null,
    TlsPolicy.Sts.StsLookup? sts = null)
{
    readonly RelayCas _cas = cas ?? RelayCas.Load(ruleset);
    readonly SmtpdSettings _settings = settings ?? SmtpdSettings.Default;
    readonly TlsPolicy.TlsPolicyResolver _tlsPolicies = new(ruleset, tables, dns, (settings ?? SmtpdSettings.Default).MxPort,
        sts ?? TlsPolicy.Sts.StsLookup.For(dns, settings ?? SmtpdSettings.Default, time ?? TimeProvider.System, log));

    /// <summary>Port for MX delivery: 25, or <c>SMTPD_MTA_PORT</c> (tests run peers on free ports).</summary>
    int MxPort => _settings.MxPort;

    public async Task<Route> PlanAsync(ActionConfig action, string domain, CancellationToken ct)
    {
        string helo = action.Helo ?? ruleset.Hostname;
        IReadOnlyList<IPAddress>? sources = null;
        if (action.SourceTable is { } sourceTable)
        {
            try
            {
                sources = (await tables[sourceTable].FetchAsync(TableService.Source, ct))
                    .Select(a => NetworkText.TryParseAddress(a, out var ip) ? ip : null).OfType<IPAddress>().ToList();
            }
            catch (TableTempFailException ex) { return Route.Fail(Outcome.TempFail($"Source table lookup failed: {ex.Message}")); }
        }
        if (action.Host is { } url)
        {
            if (!RelayHost.TryParse(url, out var relay, out string error))
                return Route.Fail(Outcome.PermFail($"Invalid relay host: {error}"));
            NetworkCredential? credentials = null;
            if (relay.AuthLabel is { } label && action.AuthTable is { } table)
            {
                try { credentials = await CredentialsAsync(table, label, ct); }
                catch (TableTempFailException ex) { return Route.Fail(Outcome.TempFail($"Credentials lookup failed: {ex.Message}")); }
                if (credentials is null) return Route.Fail(Outcome.TempFail($"No credentials for label {label} in table {table}"));
            }
            if (action.RequireTls && relay.Tls == MtaTls.None)
                return Route.Fail(Outcome.TempFail($"TLS required for relaying by action {action.Name}, but the relay is {url}"));
            // "tls", or credentials to send, make STARTTLS required (credentials never go in clear).
            var tls = (action.RequireTls || credentials is not null) && relay.Tls == MtaTls.Opportunistic ? MtaTls.Required : relay.Tls;
            var options = Options(action, helo, tls, credentials, sources);
            return new Route([new NextHop(relay.Host, 0, relay.EffectivePort)], options) { Via = relay };
        }

        if (domain.StartsWith('[') && domain.EndsWith(']'))
        {
            var literalPolicy = await _tlsPolicies.ResolveAsync(domain, ct);
            if (literalPolicy.Failure is { } literalFailure) return Route.Fail(Outcome.TempFail(literalFailure)) with { TlsPolicy = literalPolicy };
            return new Route([new NextHop(domain, 0, MxPort)], MxOptions(action, helo, literalPolicy, sources)) { TlsPolicy = literalPolicy };
        }

        var lookup = await dns.LookupMxAsync(domain, ct);
        switch (lookup)
        {
            case MxLookup.Permanent p: return Route.Fail(Outcome.PermFail(p.Reason));
            case MxLookup.Temporary t: return Route.Fail(Outcome.TempFail(t.Reason));
        }
        var hosts = ((MxLookup.Found)lookup).Hosts;
        if (action.Backup is { } backup)
        {
            string self = backup.Length > 0 ? backup : ruleset.Hostname;
            var mine = hosts.FirstOrDefault(h => string.Equals(h.Name, self, StringComparison.OrdinalIgnoreCase));
            if (mine is not null) hosts = hosts.Where(h => h.Preference < mine.Preference).ToList();
            if (hosts.Count == 0)
                return Route.Fail(Outcome.TempFail($"backup: no MX of {domain} is preferred to {self}"));
        }
        // After the MX lookup, whose failures say what they always said: the policy's own
        // lookups (DNSSEC, MTA-STS) are made only for a domain that has somewhere to go.
        var policy = await _tlsPolicies.ResolveAsync(domain, ct);
        if (policy.Failure is { } policyFailure)
            return Route.Fail(Outcome.TempFail(policyFailure)) with
            {
                TlsPolicy = policy,
                TlsRptResult = policy.Discovery?.ResultType ?? (policy.DaneRequired ? TlsPolicy.Rpt.TlsRptResult.DaneRequired : null),
            };
        var mxOptions = MxOptions(action, helo, policy, sources);
        var ordered = hosts.GroupBy(h => h.Preference).OrderBy(g => g.Key)
            .SelectMany(g => g.OrderBy(_ => Random.Shared.Next()))
            .Select(h => new NextHop(h.Name, h.Preference, MxPort)
            {
                Dane = policy.Dane.GetValueOrDefault(h.Name),
                EncryptOnly = policy.EncryptOnly.Contains(h.Name),
            }).ToList();
        // dane-only: a host without validated TLSA records is not one to send to.
        if (policy.DaneRequired) ordered = ordered.Where(h => h.Dane is not null || h.EncryptOnly).ToList();
        if (policy.DaneRequired && ordered.Count == 0)
            return Route.Fail(Outcome.TempFail($"dane-only: no MX of {domain} has DNSSEC-validated TLSA records")) with { TlsPolicy = policy, TlsRptResult = TlsPolicy.Rpt.TlsRptResult.DaneRequired };
        // MTA-STS enforce: only the MX hosts the policy names (RFC 8461 4.1); testing only says so.
        if (policy.Sts is { } sts)
        {
            var unlisted = ordered.Where(h => !sts.Allows(h.Host)).Select(h => h.Host).ToList();
            if (unlisted.Count > 0 && policy.Mode == TlsPolicy.TlsPolicyMode.StsTesting)
                log?.Info($"smtp-out: MTA-STS testing policy of {domain}: MX {string.Join(", ", unlisted)} not in the policy (mx: {string.Join(", ", sts.Mx)}); delivering anyway");
            if (policy.Mode == TlsPolicy.TlsPolicyMode.StsEnforce)
            {
                ordered = ordered.Where(h => sts.Allows(h.Host)).ToList();
                if (ordered.Count == 0)
                    return Route.Fail(Outcome.TempFail($"MTA-STS: no MX of {domain} matches its policy (mx: {string.Join(", ", sts.Mx)})")) with { TlsPolicy = policy, TlsRptResult = TlsPolicy.Rpt.TlsRptResult.ValidationFailure };
            }
        }
        return new Route(ordered, mxOptions) { TlsPolicy = policy };
    }

    /// <summary>The policy that <c>smtpctl show tls-policy DOMAIN</c> prints: the one a relay by MX would use now.</summary>
    public Task<TlsPolicy.OutboundTlsPolicy> TlsPolicyAsync(string domain, CancellationToken ct) => _tlsPolicies.ResolveAsync(domain, ct);

    /// <summary>
    /// An MX relay's options under its destination's TLS policy. Opportunistic (no policy found)
    /// is what the action alone says; a policy can only ask for more: the action's <c>tls</c>
    /// still requires TLS and its check, and <c>none</c> (plain text) yields to it.
    /// </summary>
    ClientOptions MxOptions(ActionConfig action, string helo, TlsPolicy.OutboundTlsPolicy policy, IReadOnlyList<IPAddress>? sources)
    {
        var actionTls = action.RequireTls ? MtaTls.Required : MtaTls.Opportunistic;
        var basic = Options(action, helo, actionTls, null, sources);
        if (policy.Mode == TlsPolicy.TlsPolicyMode.Opportunistic) return basic;
        var tls = policy.Tls == MtaTls.Required || action.RequireTls ? MtaTls.Required
            : policy.Tls == MtaTls.None ? MtaTls.None : MtaTls.Opportunistic;
        return basic with { Tls = tls, VerifyCertificate = basic.VerifyCertificate || policy.VerifyCertificate, Policy = policy.Mode };
    }

    /// <summary>
    /// The session options of an action. The peer's certificate is verified whenever TLS is
    /// required (smtp+tls://, smtps://, or the <c>tls</c> keyword), unless <c>tls no-verify</c>
    /// says otherwise, as OpenSMTPD's mta does; against the action's <c>ca</c>, else the system store.
    /// </summary>
    ClientOptions Options(ActionConfig action, string helo, MtaTls tls, NetworkCredential? credentials, IReadOnlyList<IPAddress>? sources) =>
        new(helo, tls, tls is MtaTls.Required or MtaTls.Smtps && !action.TlsNoVerify, credentials, sources)
        {
            Timeout = Timeout,
            Time = time ?? TimeProvider.System,
            HeloBySource = HeloBySource(action),
            HeloSourceTable = action.HeloSourceTable,
            CaName = action.Ca,
            TrustedCas = action.Ca is { } ca ? _cas.Get(ca) : null,
        };

    /// <summary><c>helo-src &lt;t&gt;</c>: the table's addrname entry for the source address (IPv4-mapped addresses as IPv4).</summary>
    Func<IPAddress, CancellationToken, ValueTask<string?>>? HeloBySource(ActionConfig action) =>
        action.HeloSourceTable is { } table
            ? (source, ct) => tables[table].LookupAsync(TableService.AddrName, (source.IsIPv4MappedToIPv6 ? source.MapToIPv4() : source).ToString(), ct)
            : null;

    /// <summary>OpenSMTPD's secrets format: <c>label  login:password</c>.</summary>
    async ValueTask<NetworkCredential?> CredentialsAsync(string table, string label, CancellationToken ct)
    {
        string? value = await tables[table].LookupAsync(TableService.Credentials, label, ct);
        if (value is null) return null;
        if (!TableValues.TryParseRelaySecret(value, out string login, out string password))
            throw new TableTempFailException(table, $"bad credentials for label {label}: {TableValues.RelaySecretProblem(value)}");
        return new NetworkCredential(login, password);
    }

    /// <summary>5 minutes (RFC 5321), or <c>SMTPD_MTA_TIMEOUT</c> seconds.</summary>
    TimeSpan Timeout => _settings.MtaTimeout;
}
