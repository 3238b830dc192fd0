using Smtpd.Config;

namespace Smtpd.Table;

/// <summary>What the configuration asks of a table, and so what its entries must look like.</summary>
public enum TableUse
{
    /// <summary><c>for domain &lt;t&gt;</c>, <c>helo &lt;t&gt;</c>, filter <c>rdns</c>/<c>helo</c>: keys are domains.</summary>
    Domains,
    /// <summary><c>from src &lt;t&gt;</c>, filter <c>src</c>: keys are addresses or networks.</summary>
    Networks,
    /// <summary><c>mail-from</c>, <c>rcpt-to</c>, seed <c>sender</c>: keys are mail addresses.</summary>
    MailAddrs,
    /// <summary>Any <c>regex &lt;t&gt;</c>: keys are regular expressions.</summary>
    Patterns,
    /// <summary><c>alias &lt;t&gt;</c>: values are alias lists.</summary>
    Aliases,
    /// <summary><c>virtual &lt;t&gt;</c>: keys are addresses, values alias lists.</summary>
    Virtuals,
    /// <summary><c>userbase &lt;t&gt;</c>: values are uid:gid:/home.</summary>
    UserInfo,
    /// <summary><c>listen … auth &lt;t&gt;</c>: values are password hashes.</summary>
    PasswordHashes,
    /// <summary>relay <c>auth &lt;t&gt;</c>: values are login:password.</summary>
    RelaySecrets,
    /// <summary>relay <c>src &lt;t&gt;</c>: entries are addresses to bind.</summary>
    Sources,
    /// <summary>relay <c>helo-src &lt;t&gt;</c>: keys are addresses, values host names.</summary>
    AddrNames,
    /// <summary><c>listen … senders &lt;t&gt;</c>: values are lists of mail addresses.</summary>
    SenderLists,
    /// <summary><c>tls-policy &lt;t&gt;</c>: keys are domains, values TLS policies.</summary>
    TlsPolicies,
}

/// <summary>
/// Which uses each declared table serves, read from the rules, actions, listeners and filters.
/// A table named nowhere (or only by uses with free-form keys: tags, user lists) has none.
/// </summary>
public static class TableUses
{
    public static IReadOnlyDictionary<string, IReadOnlySet<TableUse>> Of(Ruleset ruleset)
    {
        var uses = new Dictionary<string, HashSet<TableUse>>(StringComparer.Ordinal);
        void Add(string? table, TableUse use, bool regex = false)
        {
            if (table is null) return;
            if (!uses.TryGetValue(table, out var set)) uses[table] = set = [];
            set.Add(regex ? TableUse.Patterns : use);
        }

        foreach (var rule in ruleset.Rules)
        {
            if (rule.From.Kind == FromKind.Source) Add(rule.From.Table, TableUse.Networks, rule.From.Regex);
            if (rule.From.Kind == FromKind.Rdns) Add(rule.From.Table, TableUse.Domains, rule.From.Regex);
            if (rule.From.Kind == FromKind.Auth && rule.From.Regex) Add(rule.From.Table, TableUse.Patterns);
            if (rule.For.Kind == ForKind.Domain) Add(rule.For.Table, TableUse.Domains, rule.For.Regex);
            foreach (var c in rule.Conditions)
            {
                switch (c.Kind)
                {
                    case MatchKind.Helo: Add(c.Table, TableUse.Domains, c.Regex); break;
                    case MatchKind.MailFrom or MatchKind.RcptTo: Add(c.Table, TableUse.MailAddrs, c.Regex); break;
                    case MatchKind.Tag or MatchKind.Auth when c.Regex: Add(c.Table, TableUse.Patterns); break;
                }
            }
        }
        foreach (var action in ruleset.Actions.Values)
        {
            Add(action.AliasTable, TableUse.Aliases);
            Add(action.VirtualTable, TableUse.Virtuals);
            Add(action.UserbaseTable, TableUse.UserInfo);
            Add(action.AuthTable, TableUse.RelaySecrets);
            Add(action.SourceTable, TableUse.Sources);
            Add(action.HeloSourceTable, TableUse.AddrNames);
        }
        Add(ruleset.TlsPolicyTable, TableUse.TlsPolicies);
        foreach (var listener in ruleset.Listeners)
        {
            var security = Smtp.Tls.ListenerSecurity.From(listener);
            Add(security.AuthTable, TableUse.PasswordHashes);
            Add(security.SendersTable, TableUse.SenderLists);
        }
        foreach (var filter in ruleset.Filters.Values)
        {
            if (filter.Spec is not FilterSpec.Builtin builtin) continue;
            foreach (var c in builtin.Conditions)
            {
                switch (c.Kind)
                {
                    case FilterConditionKind.Rdns or FilterConditionKind.Helo: Add(c.Table, TableUse.Domains, c.Regex); break;
                    case FilterConditionKind.Src: Add(c.Table, TableUse.Networks, c.Regex); break;
                    case FilterConditionKind.MailFrom or FilterConditionKind.RcptTo: Add(c.Table, TableUse.MailAddrs, c.Regex); break;
                    case FilterConditionKind.Auth when c.Regex: Add(c.Table, TableUse.Patterns); break;
                }
            }
        }
        return uses.ToDictionary(kv => kv.Key, kv => (IReadOnlySet<TableUse>)kv.Value, StringComparer.Ordinal);
    }
}
