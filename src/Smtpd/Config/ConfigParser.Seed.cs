namespace Smtpd.Config;

public sealed partial class ConfigParser
{
    /// <summary>
    /// The seeds' grammar (OpenSMTPD 5.x): <c>accept|reject [tagged T] [from ...] [for ...]
    /// [alias &lt;t&gt;] [virtual &lt;t&gt;|{...}] [userbase &lt;t&gt;] [expire D] deliver to
    /// mbox|maildir ["path"]|mda "cmd"|lmtp "dest"</c>, or <c>... relay [via URL] [backup [MX]]
    /// [auth &lt;t&gt;]</c>. Each accept becomes an action named "rule-LINE" and a rule using it;
    /// "from" defaults to local and "for" to local, as in OpenSMTPD 5.
    /// </summary>
    void SeedRule(TokenCursor c, bool reject, ConfigLocation at)
    {
        FromCondition from = FromCondition.Local;
        ForCondition @for = ForCondition.Local;
        string? tag = null;
        var action = new ActionBuilder($"rule-{at.Line}", at);
        bool hasMethod = false;

        while (!c.AtEnd)
        {
            bool negate = c.Accept(TokenKind.Bang);
            var wordAt = c.Location;
            string word = c.Value("rule keyword");
            switch (word)
            {
                case "tagged": tag = c.Value("tag"); break;
                case "from": from = FromClause(c, negate, modern: false); break;
                case "for": @for = ForClause(c, negate, modern: false); break;
                case "alias": action.Alias = UseTable(c, word); break;
                case "userbase": action.Userbase = UseTable(c, word); break;
                case "virtual":
                    if (c.Accept(TokenKind.Open))
                    {
                        var (list, map) = TableContents(c);
                        action.Virtual = AnonymousTable(list, map, wordAt);
                    }
                    else action.Virtual = UseTable(c, word);
                    break;
                case "sender":
                    throw new ConfigSyntaxException(new ConfigError(wordAt, "\"sender\" conditions are not supported yet"));
                case "expire": action.Options.Add($"ttl {Delay(c)}"); break;
                case "deliver" when !reject:
                    c.Expect("to");
                    DeliverTo(c, action);
                    hasMethod = true;
                    break;
                case "relay" when !reject:
                    action.Method = DeliveryMethod.Relay;
                    hasMethod = true;
                    RelayOptions(c, action);
                    break;
                default:
                    throw new ConfigSyntaxException(new ConfigError(wordAt, $"syntax error at \"{word}\""));
            }
        }

        if (reject)
        {
            _rules.Add(new Rule(true, from, @for, tag, null, at));
            return;
        }
        if (!hasMethod) throw new ConfigSyntaxException(new ConfigError(at, "accept rule needs \"deliver to ...\" or \"relay\""));
        var built = action.Build();
        _actions[built.Name] = built;
        _rules.Add(new Rule(false, from, @for, tag, built.Name, at));
    }

    void DeliverTo(TokenCursor c, ActionBuilder action)
    {
        var at = c.Location;
        string method = c.Value("delivery method");
        switch (method)
        {
            case "mbox": action.Method = DeliveryMethod.Mbox; break;
            case "maildir":
                action.Method = DeliveryMethod.Maildir;
                if (c.Peek.Kind == TokenKind.String) action.Path = c.Next().Text;
                break;
            case "mda": action.Method = DeliveryMethod.Mda; action.Path = c.Value("mda command"); break;
            case "lmtp": action.Method = DeliveryMethod.Lmtp; action.Path = c.Value("lmtp destination"); break;
            default: throw new ConfigSyntaxException(new ConfigError(at, $"unknown delivery method \"{method}\""));
        }
    }

    void RelayOptions(TokenCursor c, ActionBuilder action)
    {
        while (!c.AtEnd)
        {
            var at = c.Location;
            string option = c.Value("relay option");
            switch (option)
            {
                case "via": action.Host = c.Value("relay URL"); break;
                case "backup":
                    action.Backup = c.Peek.IsValue && !IsSeedKeyword(c.Peek.Text) ? c.Next().Text : "";
                    break;
                case "auth": action.Auth = UseTable(c, option); break;
                case "as": action.Options.Add($"mail-from {c.Value("sender address")}"); break;
                case "source": action.Options.Add($"src <{UseTable(c, option)}>"); break;
                case "hostname": action.Options.Add($"helo {c.Value("host name")}"); break;
                case "tls": action.Options.Add("tls"); break;
                case "expire": action.Options.Add($"ttl {Delay(c)}"); break;
                default: throw new ConfigSyntaxException(new ConfigError(at, $"unknown relay option \"{option}\""));
            }
        }
    }

    static bool IsSeedKeyword(string word) => word is "via" or "auth" or "as" or "source" or "hostname" or "tls" or "expire";
}
