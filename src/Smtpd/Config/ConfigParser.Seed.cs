namespace Smtpd.Config;

// The seed grammar (OpenSMTPD 5.x, the talk's "Configuration" slides):
//   accept [tagged T] [from any|local|source <t>|<t>] [sender <t>] for any|local|domain D|<t>
//          [alias <t>|virtual <t>|virtual { ... }] [userbase <t>]
//          deliver to mbox|maildir [PATH]|mda CMD|lmtp DEST
//        | relay [via URL] [backup [MX]] [auth <t>] [certificate NAME] [source <t>] [helo H] [as ADDR]
//          [expire D]
//   reject [tagged T] [from ...] [sender <t>] for ...
// "from" defaults to local and "for" is required, as in 5.x. Each accept becomes an action named
// "rule-LINE" and a rule pointing at it.
public sealed partial class ConfigParser
{
    private void ParseSeedRule(TokenCursor c)
    {
        var keyword = c.Take();
        bool reject = keyword.Text == "reject";
        FromCondition? from = null;
        ForCondition? @for = null;
        string? tag = null;
        var conditions = new List<MatchCondition>();
        string name = SeedActionName(keyword.Location);
        var action = new ActionConfig(name, DeliveryMethod.Mbox, null, null, null, null, null, null, null, keyword.Location);
        bool delivers = false;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (!c.AtEnd)
        {
            var option = c.Take();
            if (!option.IsWord || option.Quoted)
                throw new ConfigSyntaxException(option.Location, $"unexpected {option.Display} in {keyword.Text} rule");
            string o = option.Text is "deliver" or "relay" ? "delivery" : option.Text;
            if (!seen.Add(o))
                throw new ConfigSyntaxException(option.Location, $"{option.Text} already specified for this rule");
            switch (option.Text)
            {
                case "tagged":
                    tag = c.ExpectValue("tagged");
                    break;
                case "from":
                    from = ParseSeedFrom(c);
                    break;
                case "sender":
                    conditions.Add(new MatchCondition(MatchKind.MailFrom, ParseTables(c, "sender")));
                    break;
                case "authenticated":
                    // 6.0's "accept from any authenticated for any relay".
                    conditions.Add(new MatchCondition(MatchKind.Auth, null));
                    break;
                case "for":
                    @for = ParseSeedFor(c);
                    break;
                case "alias" or "virtual":
                    if (action.AliasTable is not null || action.VirtualTable is not null)
                        throw new ConfigSyntaxException(option.Location, "alias and virtual are mutually exclusive");
                    string mapping = ParseTables(c, option.Text);
                    action = option.Text == "alias" ? action with { AliasTable = mapping } : action with { VirtualTable = mapping };
                    break;
                case "userbase":
                    action = action with { UserbaseTable = ParseTables(c, "userbase") };
                    break;
                case "expire":
                    action = action with { Ttl = ParseDelay(c, "expire") };
                    break;
                case "deliver" when !reject:
                    c.ExpectKeyword("to", "accept rule");
                    action = ParseSeedDelivery(c, action);
                    delivers = true;
                    break;
                case "relay" when !reject:
                    action = ParseSeedRelay(c, action with { Method = DeliveryMethod.Relay });
                    delivers = true;
                    break;
                default:
                    throw new ConfigSyntaxException(option.Location, $"unknown keyword '{option.Text}' in {keyword.Text} rule");
            }
        }
        if (@for is null)
            throw new ConfigSyntaxException(keyword.Location, $"{keyword.Text} rule needs 'for any', 'for local' or 'for domain ...'");
        if (!reject && !delivers)
            throw new ConfigSyntaxException(keyword.Location, "accept rule needs 'deliver to ...' or 'relay'");
        if (!reject)
            actions.Add(name, action);
        rules.Add(new Rule(reject, from ?? FromCondition.Local, @for, tag, reject ? null : name, keyword.Location)
        {
            Conditions = conditions,
            AuthenticatedIsLocal = true,
        });
    }

    /// <summary>"rule-LINE" for the main file; rules of included files add the file's name, and a
    /// modern action already holding the name gets a suffix, so that every rule has its own.</summary>
    private string SeedActionName(ConfigLocation at)
    {
        string name = at.File == fileName ? $"rule-{at.Line}" : $"rule-{Path.GetFileName(at.File)}-{at.Line}";
        string unique = name;
        for (int n = 2; actions.ContainsKey(unique); n++)
            unique = $"{name}-{n}";
        return unique;
    }

    private FromCondition ParseSeedFrom(TokenCursor c)
    {
        if (c.TryKeyword("any"))
            return FromCondition.Any;
        if (c.TryKeyword("local"))
            return FromCondition.Local;
        c.TryKeyword("source"); // 5.4 spells "from source <t>"; 5.3 "from <t>"
        return new FromCondition(FromKind.Source, ParseTables(c, "from"));
    }

    private ForCondition ParseSeedFor(TokenCursor c)
    {
        if (c.TryKeyword("any"))
            return ForCondition.Any;
        if (c.TryKeyword("local"))
            return ForCondition.Local;
        c.ExpectKeyword("domain", "for (any, local or domain)");
        if (c.PeekIsValue())
            return new ForCondition(ForKind.Domain, Domain: DomainLiteral(c.Take(), regex: false));
        return new ForCondition(ForKind.Domain, Table: ParseTables(c, "for domain"));
    }

    private static ActionConfig ParseSeedDelivery(TokenCursor c, ActionConfig action)
    {
        var method = c.Take();
        return (method.Quoted ? "" : method.Text) switch
        {
            "mbox" => action with { Method = DeliveryMethod.Mbox },
            // No path means ~/Maildir, as the action's null Path does.
            "maildir" => action with { Method = DeliveryMethod.Maildir, Path = c.PeekIsValue() ? c.Take().Text : null },
            "mda" => action with { Method = DeliveryMethod.Mda, Path = c.ExpectValue("mda") },
            "lmtp" => action with { Method = DeliveryMethod.Lmtp, Path = c.ExpectValue("lmtp") },
            _ => throw new ConfigSyntaxException(method.Location, method.Kind == TokenKind.End
                ? "missing argument after 'deliver to' (mbox, maildir, mda or lmtp)"
                : $"unknown delivery method {method.Display} after 'deliver to' (mbox, maildir, mda or lmtp)"),
        };
    }

    private ActionConfig ParseSeedRelay(TokenCursor c, ActionConfig action)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (!c.AtEnd && c.Peek().IsWord && !c.Peek().Quoted && !c.Peek().IsKeyword("expire"))
        {
            var option = c.Take();
            if (!seen.Add(option.Text))
                throw new ConfigSyntaxException(option.Location, $"{option.Text} already specified for this relay");
            action = option.Text switch
            {
                "via" when action.Backup is null => action with { Host = c.ExpectValue("via") },
                "backup" when action.Host is null => action with
                {
                    Backup = c.TryKeyword("mx") || c.PeekIsValue() ? c.ExpectValue("backup") : "",
                },
                "via" or "backup" => throw new ConfigSyntaxException(option.Location, "backup and via are mutually exclusive"),
                "auth" => action with { AuthTable = ParseTableRef(c, "auth") },
                "certificate" => action with { Pki = c.ExpectValue("certificate") },
                "source" => action with { SourceTable = ParseTables(c, "source") },
                "helo" => action with { HeloSourceTable = ParseTableRef(c, "helo") },
                "as" => action with { MailFrom = c.ExpectValue("as") },
                "tls" => action with { RequireTls = true },
                _ => throw new ConfigSyntaxException(option.Location, $"unknown keyword '{option.Text}' in relay"),
            };
        }
        return action;
    }
}
