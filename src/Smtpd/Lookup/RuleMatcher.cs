using System.Text.RegularExpressions;
using Smtpd.Config;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd.Lookup;

/// <summary>
/// Finds the rule a recipient falls under: rules in configuration order, first match wins; a
/// rule matches when its from, for, tag and every further condition hold.
/// Throws <see cref="TableTempFailException"/> when a table could not be consulted.
/// </summary>
public sealed class RuleMatcher(Ruleset ruleset, TableSet tables, LocalNames localNames)
{
    static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(100);

    public async ValueTask<Rule?> MatchAsync(SessionInfo session, MailAddress rcpt, CancellationToken ct = default)
    {
        foreach (var rule in ruleset.Rules)
        {
            if (rule.Tag is not null && !string.Equals(rule.Tag, session.ListenerTag, StringComparison.OrdinalIgnoreCase))
                continue;
            if (await MatchesFromAsync(rule.From, session, rule.AuthenticatedIsLocal, ct) && await MatchesForAsync(rule.For, rcpt, ct)
                && await AllConditionsHoldAsync(rule, session, rcpt, ct))
                return rule;
        }
        return null;
    }

    public bool IsLocalDomain(string domain) => domain.Length == 0 || localNames.Contains(domain);

    async ValueTask<bool> AllConditionsHoldAsync(Rule rule, SessionInfo session, MailAddress rcpt, CancellationToken ct)
    {
        foreach (var c in rule.Conditions)
            if (!await MatchesConditionAsync(c, session, rcpt, ct)) return false;
        return true;
    }

    async ValueTask<bool> MatchesFromAsync(FromCondition from, SessionInfo session, bool authenticatedIsLocal, CancellationToken ct)
    {
        string? address = session.ClientAddress?.ToString();
        bool result = from.Kind switch
        {
            FromKind.Any => true,
            FromKind.Local => session.Local || (authenticatedIsLocal && session.AuthUser is not null),
            FromKind.Socket => session.ClientAddress is null,
            FromKind.Source => address is not null && await InTableAsync(from.Table!, TableService.NetAddr, address, from.Regex, ct),
            FromKind.Auth => session.AuthUser is not null
                && (from.Table is null || await InTableAsync(from.Table, TableService.Credentials, session.AuthUser, from.Regex, ct)),
            // ruleset_match_from: the name the session found (/etc/hosts, then PTR); in a table, as a domain.
            FromKind.Rdns => session.Rdns is not null
                && (from.Table is null || await InTableAsync(from.Table, TableService.Domain, session.Rdns, from.Regex, ct)),
            _ => false,
        };
        return result != from.Negate;
    }

    async ValueTask<bool> MatchesForAsync(ForCondition @for, MailAddress rcpt, CancellationToken ct)
    {
        string domain = rcpt.Domain.TrimEnd('.');
        bool result = @for.Kind switch
        {
            ForKind.Any => true,
            ForKind.Local => IsLocalDomain(domain),
            ForKind.Domain when @for.Table is not null => await InTableAsync(@for.Table, TableService.Domain, domain, @for.Regex, ct),
            ForKind.Domain when @for.Regex => RegexMatches(@for.Domain!, domain),
            ForKind.Domain => DomainMatches(@for.Domain!, domain),
            _ => false,
        };
        return result != @for.Negate;
    }

    async ValueTask<bool> MatchesConditionAsync(MatchCondition c, SessionInfo session, MailAddress rcpt, CancellationToken ct)
    {
        bool result = c.Kind switch
        {
            MatchKind.Tag => session.ListenerTag is not null && await InTableAsync(c.Table!, TableService.Source, session.ListenerTag, c.Regex, ct),
            MatchKind.Helo => await InTableAsync(c.Table!, TableService.Domain, session.Helo, c.Regex, ct),
            MatchKind.Auth => session.AuthUser is not null && (c.Table is null || await InTableAsync(c.Table, TableService.Credentials, session.AuthUser, c.Regex, ct)),
            MatchKind.MailFrom => await InTableAsync(c.Table!, TableService.MailAddr, session.Sender, c.Regex, ct),
            MatchKind.RcptTo => await InTableAsync(c.Table!, TableService.MailAddr, rcpt.ToString(), c.Regex, ct),
            MatchKind.Tls => session.Tls,
            _ => false,
        };
        return result != c.Negate;
    }

    /// <summary>
    /// Table membership for a service. Mail addresses match an entry for the whole address, for
    /// its domain ("@example.org" or "example.org") or for its user ("user@"), as in OpenSMTPD.
    /// </summary>
    async ValueTask<bool> InTableAsync(string name, TableService service, string key, bool regex, CancellationToken ct)
    {
        var table = tables[name];
        if (regex)
            return (await table.FetchAsync(service, ct)).Any(pattern => RegexMatches(pattern, key));
        if (service != TableService.MailAddr) return await table.CheckAsync(service, key, ct);
        if (await table.CheckAsync(service, key, ct)) return true;
        int at = key.LastIndexOf('@');
        if (at < 0) return false;
        string domain = key[(at + 1)..];
        return await table.CheckAsync(service, "@" + domain, ct) || await table.CheckAsync(service, domain, ct)
            || await table.CheckAsync(service, key[..(at + 1)], ct);
    }

    static bool RegexMatches(string pattern, string input)
    {
        try { return Regex.IsMatch(input, pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexTimeout); }
        catch (RegexMatchTimeoutException) { return false; }
    }

    static bool DomainMatches(string pattern, string domain) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? domain.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(pattern.TrimEnd('.'), domain, StringComparison.OrdinalIgnoreCase);
}
