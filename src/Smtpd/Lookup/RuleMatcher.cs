using Smtpd.Config;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd.Lookup;

/// <summary>
/// Finds the rule a recipient falls under: rules in configuration order, first match wins.
/// Throws <see cref="TableTempFailException"/> when a table could not be consulted.
/// </summary>
public sealed class RuleMatcher(Ruleset ruleset, TableSet tables, LocalNames localNames)
{
    public Rule? Match(SessionInfo session, MailAddress rcpt)
    {
        foreach (var rule in ruleset.Rules)
        {
            if (rule.Tag is not null && !string.Equals(rule.Tag, session.ListenerTag, StringComparison.OrdinalIgnoreCase))
                continue;
            if (MatchesFrom(rule.From, session) && MatchesFor(rule.For, rcpt))
                return rule;
        }
        return null;
    }

    public bool IsLocalDomain(string domain) => domain.Length == 0 || localNames.Contains(domain);

    bool MatchesFrom(FromCondition from, SessionInfo session)
    {
        bool result = from.Kind switch
        {
            FromKind.Any => true,
            FromKind.Local => session.Local,
            FromKind.Socket => session.ClientAddress is null,
            FromKind.Source => session.ClientAddress is not null
                && tables[from.Table!].Check(TableService.NetAddr, session.ClientAddress.ToString()),
            FromKind.Auth => session.AuthUser is not null
                && (from.Table is null || tables[from.Table].Check(TableService.Credentials, session.AuthUser)),
            _ => false,
        };
        return result != from.Negate;
    }

    bool MatchesFor(ForCondition @for, MailAddress rcpt)
    {
        string domain = rcpt.Domain;
        bool result = @for.Kind switch
        {
            ForKind.Any => true,
            ForKind.Local => IsLocalDomain(domain),
            ForKind.Domain when @for.Table is not null => tables[@for.Table].Check(TableService.Domain, domain),
            ForKind.Domain => DomainMatches(@for.Domain!, domain),
            _ => false,
        };
        return result != @for.Negate;
    }

    static bool DomainMatches(string pattern, string domain) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? domain.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(pattern, domain.TrimEnd('.'), StringComparison.OrdinalIgnoreCase);
}
