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

    public Rule? Match(SessionInfo session, MailAddress rcpt)
    {
        foreach (var rule in ruleset.Rules)
        {
            if (rule.Tag is not null && !string.Equals(rule.Tag, session.ListenerTag, StringComparison.OrdinalIgnoreCase))
                continue;
            if (MatchesFrom(rule.From, session, rule.AuthenticatedIsLocal) && MatchesFor(rule.For, rcpt)
                && rule.Conditions.All(c => MatchesCondition(c, session, rcpt)))
                return rule;
        }
        return null;
    }

    public bool IsLocalDomain(string domain) => domain.Length == 0 || localNames.Contains(domain);

    bool MatchesFrom(FromCondition from, SessionInfo session, bool authenticatedIsLocal)
    {
        string? address = session.ClientAddress?.ToString();
        bool result = from.Kind switch
        {
            FromKind.Any => true,
            FromKind.Local => session.Local || (authenticatedIsLocal && session.AuthUser is not null),
            FromKind.Socket => session.ClientAddress is null,
            FromKind.Source => address is not null && InTable(from.Table!, TableService.NetAddr, address, from.Regex),
            FromKind.Auth => session.AuthUser is not null
                && (from.Table is null || InTable(from.Table, TableService.Credentials, session.AuthUser, from.Regex)),
            // ruleset_match_from: the name the session found (/etc/hosts, then PTR); in a table, as a domain.
            FromKind.Rdns => session.Rdns is not null
                && (from.Table is null || InTable(from.Table, TableService.Domain, session.Rdns, from.Regex)),
            _ => false,
        };
        return result != from.Negate;
    }

    bool MatchesFor(ForCondition @for, MailAddress rcpt)
    {
        string domain = rcpt.Domain.TrimEnd('.');
        bool result = @for.Kind switch
        {
            ForKind.Any => true,
            ForKind.Local => IsLocalDomain(domain),
            ForKind.Domain when @for.Table is not null => InTable(@for.Table, TableService.Domain, domain, @for.Regex),
            ForKind.Domain when @for.Regex => RegexMatches(@for.Domain!, domain),
            ForKind.Domain => DomainMatches(@for.Domain!, domain),
            _ => false,
        };
        return result != @for.Negate;
    }

    bool MatchesCondition(MatchCondition c, SessionInfo session, MailAddress rcpt)
    {
        bool result = c.Kind switch
        {
            MatchKind.Tag => session.ListenerTag is not null && InTable(c.Table!, TableService.Source, session.ListenerTag, c.Regex),
            MatchKind.Helo => InTable(c.Table!, TableService.Domain, session.Helo, c.Regex),
            MatchKind.Auth => session.AuthUser is not null && (c.Table is null || InTable(c.Table, TableService.Credentials, session.AuthUser, c.Regex)),
            MatchKind.MailFrom => InTable(c.Table!, TableService.MailAddr, session.Sender, c.Regex),
            MatchKind.RcptTo => InTable(c.Table!, TableService.MailAddr, rcpt.ToString(), c.Regex),
            MatchKind.Tls => session.Tls,
            _ => false,
        };
        return result != c.Negate;
    }

    /// <summary>
    /// Table membership for a service. Mail addresses match an entry for the whole address, for
    /// its domain ("@example.org" or "example.org") or for its user ("user@"), as in OpenSMTPD.
    /// </summary>
    bool InTable(string name, TableService service, string key, bool regex)
    {
        var table = tables[name];
        if (regex)
            return table.Fetch(service).Any(pattern => RegexMatches(pattern, key));
        if (service != TableService.MailAddr) return table.Check(service, key);
        if (table.Check(service, key)) return true;
        int at = key.LastIndexOf('@');
        if (at < 0) return false;
        string domain = key[(at + 1)..];
        return table.Check(service, "@" + domain) || table.Check(service, domain) || table.Check(service, key[..(at + 1)]);
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
