namespace Smtpd.Config;

public sealed partial class ConfigParser
{
    /// <summary>
    /// <c>action NAME mbox|maildir [PATH] [junk]|mda COMMAND|lmtp DEST [rcpt-to]|relay [options]</c>
    /// followed by <c>alias &lt;t&gt;</c>, <c>virtual &lt;t&gt;</c>, <c>userbase &lt;t&gt;</c> and other options.
    /// </summary>
    void Action(TokenCursor c)
    {
        var at = c.Location;
        string name = c.Value("action name");
        if (_actions.ContainsKey(name)) throw new ConfigSyntaxException(new ConfigError(at, $"action \"{name}\" already defined"));
        var builder = new ActionBuilder(name, at);
        var methodAt = c.Location;
        string method = c.Value("delivery method");
        switch (method)
        {
            case "mbox": builder.Method = DeliveryMethod.Mbox; break;
            case "maildir":
                builder.Method = DeliveryMethod.Maildir;
                if (c.Peek.IsValue && !IsActionOption(c.Peek.Text)) builder.Path = c.Next().Text;
                break;
            case "mda": builder.Method = DeliveryMethod.Mda; builder.Path = c.Value("mda command"); break;
            case "lmtp": builder.Method = DeliveryMethod.Lmtp; builder.Path = c.Value("lmtp destination"); break;
            case "relay": builder.Method = DeliveryMethod.Relay; break;
            case "expand-only" or "forward-only":
                builder.Method = DeliveryMethod.Mbox;
                builder.Options.Add(method);
                break;
            default:
                throw new ConfigSyntaxException(new ConfigError(methodAt, $"unknown delivery method \"{method}\""));
        }
        while (!c.AtEnd) ActionOption(c, builder);
        _actions[name] = builder.Build();
    }

    static bool IsActionOption(string word) => word is "alias" or "virtual" or "userbase" or "user" or "junk"
        or "rcpt-to" or "wrapper" or "forward-only" or "expand-only" or "host" or "backup" or "auth" or "helo"
        or "helo-src" or "tls" or "pki" or "src" or "mail-from" or "srs" or "domain" or "ttl";

    void ActionOption(TokenCursor c, ActionBuilder a)
    {
        var at = c.Location;
        string option = c.Value("action option");
        bool relay = a.Method == DeliveryMethod.Relay;
        switch (option)
        {
            case "alias" when !relay: a.Alias = UseTable(c, option); break;
            case "virtual" when !relay: a.Virtual = UseTable(c, option); break;
            case "userbase" when !relay: a.Userbase = UseTable(c, option); break;
            case "user" when !relay: a.Options.Add($"user {c.Value("user name")}"); break;
            case "wrapper" when !relay: a.Options.Add($"wrapper {c.Value("wrapper name")}"); break;
            case "junk" or "rcpt-to" or "forward-only" or "expand-only" when !relay: a.Options.Add(option); break;
            case "host" when relay: a.Host = c.Value("relay host"); break;
            case "backup" when relay:
                a.Backup = c.Accept("mx") ? c.Value("backup MX") : "";
                break;
            case "auth" when relay: a.Auth = UseTable(c, option); break;
            case "helo" or "mail-from" or "pki" when relay: a.Options.Add($"{option} {c.Value(option)}"); break;
            case "helo-src" or "src" or "domain" when relay: a.Options.Add($"{option} <{UseTable(c, option)}>"); break;
            case "srs" when relay: a.Options.Add(option); break;
            case "tls" when relay:
                string tls = c.Peek.Is("no-verify") ? $"tls {c.Next().Text}" : "tls";
                a.Options.Add(tls);
                break;
            case "ttl":
                a.Options.Add($"ttl {Delay(c)}");
                break;
            default:
                throw new ConfigSyntaxException(new ConfigError(at, IsActionOption(option)
                    ? $"option \"{option}\" does not apply to a {(relay ? "relay" : "local")} action"
                    : $"unknown action option \"{option}\""));
        }
    }

    /// <summary>
    /// <c>match [!]from ... [!]for ... [!]tag T ... action NAME|reject</c>. Omitted, "from" is
    /// <c>from local</c> and "for" is <c>for local</c> (smtpd.conf(5)).
    /// </summary>
    void Match(TokenCursor c)
    {
        var at = c.Location;
        FromCondition from = FromCondition.Local;
        ForCondition @for = ForCondition.Local;
        string? tag = null;
        while (true)
        {
            bool negate = c.Accept(TokenKind.Bang);
            var conditionAt = c.Location;
            string word = c.Value("match condition, \"action\" or \"reject\"");
            switch (word)
            {
                case "from": from = FromClause(c, negate, modern: true); continue;
                case "for": @for = ForClause(c, negate, modern: true); continue;
                case "tag":
                    if (negate) throw new ConfigSyntaxException(new ConfigError(conditionAt, "\"!tag\" is not supported yet"));
                    tag = c.Value("tag");
                    continue;
                case "action" when !negate:
                    var nameAt = c.Location;
                    string name = c.Value("action name");
                    c.ExpectEnd();
                    if (!_actions.ContainsKey(name)) throw new ConfigSyntaxException(new ConfigError(nameAt, $"undefined action \"{name}\""));
                    _rules.Add(new Rule(false, from, @for, tag, name, at));
                    return;
                case "reject" when !negate:
                    c.ExpectEnd();
                    _rules.Add(new Rule(true, from, @for, tag, null, at));
                    return;
                case "mail-from" or "rcpt-to" or "helo" or "tls" or "auth" or "rdns" or "fcrdns":
                    throw new ConfigSyntaxException(new ConfigError(conditionAt, $"match condition \"{word}\" is not supported yet"));
                default:
                    throw new ConfigSyntaxException(new ConfigError(conditionAt, $"unknown match condition \"{word}\""));
            }
        }
    }

    /// <summary>What follows "from": any, local, socket, src/source &lt;t&gt; or "address", auth [&lt;t&gt;].</summary>
    FromCondition FromClause(TokenCursor c, bool negate, bool modern)
    {
        var at = c.Location;
        string kind = c.Value("source (any, local, src...)");
        switch (kind)
        {
            case "any": return new FromCondition(FromKind.Any, null, negate);
            case "local": return new FromCondition(FromKind.Local, null, negate);
            case "socket" when modern: return new FromCondition(FromKind.Socket, null, negate);
            case "src" or "source":
                if (c.Peek.Kind == TokenKind.TableRef) return new FromCondition(FromKind.Source, UseTable(c, kind), negate);
                return new FromCondition(FromKind.Source, AnonymousTable([c.Value("address or network")], new Dictionary<string, string>(), at), negate);
            case "auth" when modern:
                string? table = c.Peek.Kind == TokenKind.TableRef ? UseTable(c, kind) : null;
                return new FromCondition(FromKind.Auth, table, negate);
            case "rdns" or "mail-from":
                throw new ConfigSyntaxException(new ConfigError(at, $"\"from {kind}\" is not supported yet"));
            default:
                throw new ConfigSyntaxException(new ConfigError(at, $"unknown source \"{kind}\""));
        }
    }

    /// <summary>What follows "for": any, local, domain "d" or &lt;t&gt;; the seed grammar also takes a bare domain.</summary>
    ForCondition ForClause(TokenCursor c, bool negate, bool modern)
    {
        var at = c.Location;
        string kind = c.Value("destination (any, local, domain...)");
        switch (kind)
        {
            case "any" or "all": return new ForCondition(ForKind.Any, Negate: negate);
            case "local": return new ForCondition(ForKind.Local, Negate: negate);
            case "domain":
                if (c.Peek.Kind == TokenKind.TableRef) return new ForCondition(ForKind.Domain, Table: UseTable(c, kind), Negate: negate);
                return new ForCondition(ForKind.Domain, Domain: c.Value("domain"), Negate: negate);
            case "rcpt" or "rcpt-to":
                throw new ConfigSyntaxException(new ConfigError(at, $"\"for {kind}\" is not supported yet"));
            default:
                if (!modern && kind.Contains('.')) return new ForCondition(ForKind.Domain, Domain: kind, Negate: negate);
                throw new ConfigSyntaxException(new ConfigError(at, $"unknown destination \"{kind}\""));
        }
    }

    /// <summary>Collects an action's parts while its options are read.</summary>
    sealed class ActionBuilder(string name, ConfigLocation at)
    {
        public DeliveryMethod Method;
        public string? Path, Alias, Virtual, Userbase, Host, Backup, Auth;
        public List<string> Options { get; } = [];

        public ActionConfig Build() =>
            new(name, Method, Path, Alias, Virtual, Userbase, Host, Backup, Auth, at) { Options = Options };
    }
}
