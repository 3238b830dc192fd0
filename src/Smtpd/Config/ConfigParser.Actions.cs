namespace Smtpd.Config;

// action NAME mbox|maildir [PATH] [junk]|mda CMD|lmtp DEST [rcpt-to]|expand-only|forward-only|relay
// followed by options (OpenSMTPD 6.4+). Options in any order; each at most once.
public sealed partial class ConfigParser
{
    private void ParseAction(TokenCursor c)
    {
        var keyword = c.Take();
        string name = c.ExpectValue("action");
        if (actions.TryGetValue(name, out var existing))
            throw new ConfigSyntaxException(keyword.Location, $"duplicate action '{name}' (first defined at {existing.Location})");
        brokenActions.Add(name);
        var method = c.Take();
        ActionConfig action = method.Quoted ? throw UnknownMethod(method) : method.Text switch
        {
            "mbox" => Local(DeliveryMethod.Mbox, null),
            "maildir" => ParseMaildir(c, keyword.Location, name),
            "mda" => Local(DeliveryMethod.Mda, c.ExpectValue("mda")),
            "lmtp" => Local(DeliveryMethod.Lmtp, c.ExpectValue("lmtp")) with { LmtpRcptTo = c.TryKeyword("rcpt-to") },
            "expand-only" => Local(DeliveryMethod.ExpandOnly, null),
            "forward-only" => Local(DeliveryMethod.ForwardOnly, null),
            "relay" => new ActionConfig(name, DeliveryMethod.Relay, null, null, null, null, null, null, null, keyword.Location),
            _ => throw UnknownMethod(method),
        };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (!c.AtEnd)
        {
            var option = c.Take();
            if (!option.IsWord || option.Quoted)
                throw new ConfigSyntaxException(option.Location, $"unexpected {option.Display} in action {name}");
            if (!seen.Add(option.Text))
                throw new ConfigSyntaxException(option.Location, $"{option.Text} already specified for action {name}");
            action = option.Text == "ttl"
                ? action with { Ttl = ParseDelay(c, "ttl") }
                : action.IsLocal ? ParseLocalOption(c, option, action) : ParseRelayOption(c, option, action);
        }
        if (action.AuthTable is not null && action.Host is null && action.HostTable is null)
            throw new ConfigSyntaxException(keyword.Location, $"action {name}: auth may not be specified without host");
        actions.Add(name, action);
        brokenActions.Remove(name);

        ActionConfig Local(DeliveryMethod m, string? path) =>
            new(name, m, path, null, null, null, null, null, null, keyword.Location);

        ConfigSyntaxException UnknownMethod(Token t) => new(t.Location, t.Kind == TokenKind.End
            ? $"missing delivery method for action {name}"
            : $"unknown delivery method {t.Display} for action {name} (mbox, maildir, mda, lmtp, relay, expand-only, forward-only)");
    }

    private static ActionConfig ParseMaildir(TokenCursor c, ConfigLocation at, string name)
    {
        string? path = c.PeekIsValue() ? c.Take().Text : null;
        bool junk = c.TryKeyword("junk");
        return new ActionConfig(name, DeliveryMethod.Maildir, path, null, null, null, null, null, null, at) { Junk = junk };
    }

    private ActionConfig ParseLocalOption(TokenCursor c, Token option, ActionConfig action)
    {
        switch (option.Text)
        {
            case "alias" or "virtual":
                if (action.AliasTable is not null || action.VirtualTable is not null)
                    throw new ConfigSyntaxException(option.Location, $"action {action.Name}: alias and virtual are mutually exclusive");
                string table = ParseTables(c, option.Text);
                return option.Text == "alias" ? action with { AliasTable = table } : action with { VirtualTable = table };
            case "userbase":
                return action with { UserbaseTable = ParseTables(c, "userbase") };
            case "user":
                if (action.Method is DeliveryMethod.Mbox or DeliveryMethod.ExpandOnly or DeliveryMethod.ForwardOnly)
                    throw new ConfigSyntaxException(option.Location, $"action {action.Name}: user may not be specified for {MethodName(action.Method)}");
                string user = c.ExpectValue("user");
                // Seed 004: limited superuser delivery; smtpd never delivers as root.
                if (user == "root")
                    throw new ConfigSyntaxException(c.Previous.Location, $"action {action.Name}: delivering as root is not allowed");
                return action with { User = user };
            case "wrapper":
                string wrapper = c.ExpectValue("wrapper");
                if (!mdaWrappers.ContainsKey(wrapper))
                    throw new ConfigSyntaxException(c.Previous.Location, $"undefined mda wrapper '{wrapper}'");
                return action with { Wrapper = wrapper };
            default:
                throw new ConfigSyntaxException(option.Location, $"unknown option '{option.Text}' for local action {action.Name}");
        }
    }

    private ActionConfig ParseRelayOption(TokenCursor c, Token option, ActionConfig action)
    {
        string o = option.Text;
        switch (o)
        {
            case "host":
                if (action.Backup is not null)
                    throw new ConfigSyntaxException(option.Location, $"action {action.Name}: backup and host are mutually exclusive");
                return PeekTableRef(c) ? action with { HostTable = ParseTableRef(c, "host") } : action with { Host = c.ExpectValue("host") };
            case "backup":
                if (action.Host is not null || action.HostTable is not null)
                    throw new ConfigSyntaxException(option.Location, $"action {action.Name}: backup and host are mutually exclusive");
                return action with { Backup = c.TryKeyword("mx") ? c.ExpectValue("backup mx") : "" };
            case "auth":
                return action with { AuthTable = ParseTableRef(c, "auth") };
            case "helo":
                return action with { Helo = c.ExpectValue("helo") };
            case "mail-from":
                return action with { MailFrom = c.ExpectValue("mail-from") };
            case "src":
                return action with { SourceTable = ParseTables(c, "src") };
            case "tls":
                return action with { RequireTls = true, TlsNoVerify = c.TryKeyword("no-verify") };
            case "srs":
                if (settings.SrsKey is null)
                    throw new ConfigSyntaxException(option.Location, $"action {action.Name}: srs needs an 'srs key' declared first");
                return action with { Srs = true };
            case "pki":
                string pki = c.ExpectValue("pki");
                return pkis.ContainsKey(pki) ? action with { Pki = pki } : throw new ConfigSyntaxException(c.Previous.Location, $"undefined pki '{pki}'");
            case "ca":
                string ca = c.ExpectValue("ca");
                return cas.ContainsKey(ca) ? action with { Ca = ca } : throw new ConfigSyntaxException(c.Previous.Location, $"undefined ca '{ca}'");
            case "helo-src":
                return action with { HeloSourceTable = ParseTableRef(c, o) };
            case "domain":
                return action with { Options = [.. action.Options, $"{o} <{ParseTableRef(c, o)}>"] };
            case "protocols" or "ciphers":
                return action with { Options = [.. action.Options, $"{o} {c.ExpectValue(o)}"] };
            case "filter":
                string filter = c.ExpectValue("filter");
                return filters.ContainsKey(filter)
                    ? action with { Options = [.. action.Options, $"filter {filter}"] }
                    : throw new ConfigSyntaxException(c.Previous.Location, $"undefined filter '{filter}'");
            default:
                throw new ConfigSyntaxException(option.Location, $"unknown option '{o}' for relay action {action.Name}");
        }
    }

    private static string MethodName(DeliveryMethod method) => method switch
    {
        DeliveryMethod.ExpandOnly => "expand-only",
        DeliveryMethod.ForwardOnly => "forward-only",
        _ => method.ToString().ToLowerInvariant(),
    };

    private static TimeSpan ParseDelay(TokenCursor c, string after)
    {
        string value = c.ExpectValue(after);
        return ConfigValues.TryParseDelay(value, out var delay)
            ? delay
            : throw new ConfigSyntaxException(c.Previous.Location, $"invalid delay '{value}' (a number and s, m, h or d)");
    }
}
