using System.Text;

namespace Smtpd.Config;

// filter and proc declarations (smtpd.conf(5) "MAIL FILTERING"; dkim-sign is ours).
public sealed partial class ConfigParser
{
    static readonly string[] BuiltinPhases = ["connect", "helo", "ehlo", "mail-from", "rcpt-to", "data", "commit"];

    /// <summary>The headers a DKIM signature covers by default (those of RFC 6376 5.4.1 that matter).</summary>
    internal static readonly string[] DefaultDkimHeaders =
        ["From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To", "References",
         "MIME-Version", "Content-Type", "Content-Transfer-Encoding"];

    /// <summary><c>filter NAME ...</c> / <c>proc NAME "command"</c>.</summary>
    private void ParseFilterDeclaration(TokenCursor c, Token keyword)
    {
        bool isProc = keyword.Text == "proc";
        var names = isProc ? procs : filters;
        string name = c.ExpectValue(keyword.Text);
        if (names.TryGetValue(name, out var existing))
            throw new ConfigSyntaxException(keyword.Location, $"duplicate {keyword.Text} '{name}' (first defined at {existing.Location})");
        int start = c.Position;
        if (c.AtEnd)
            throw new ConfigSyntaxException(keyword.Location, $"missing definition for {keyword.Text} '{name}'");
        FilterSpec spec = isProc ? ParseProcCommand(c, $"proc {name}") : ParseFilterSpec(c, name);
        c.ExpectEnd($"{keyword.Text} {name}");
        names.Add(name, new FilterConfig(name, keyword.Text, c.TextFrom(start), keyword.Location) { Spec = spec });
    }

    private FilterSpec ParseFilterSpec(TokenCursor c, string name)
    {
        var word = c.Take();
        if (!word.IsWord || word.Quoted)
            throw new ConfigSyntaxException(word.Location, $"expected chain, phase, proc, proc-exec, dkim-sign or milter after filter {name}");
        switch (word.Text)
        {
            case "proc-exec":
                return ParseProcCommand(c, "proc-exec");
            case "proc":
                string proc = c.ExpectValue("proc");
                if (!procs.ContainsKey(proc))
                    throw new ConfigSyntaxException(c.Previous.Location, $"undefined proc '{proc}'");
                return new FilterSpec.UsesProc(proc);
            case "chain":
                return ParseChain(c, name);
            case "phase":
                return ParseBuiltin(c, name);
            case "dkim-sign":
                return ParseDkimSign(c, name);
            case "milter":
                return ParseMilter(c, name);
            default:
                throw new ConfigSyntaxException(word.Location, $"unknown filter type '{word.Text}' (chain, phase, proc, proc-exec, dkim-sign or milter)");
        }
    }

    /// <summary>The command, then OpenSMTPD's <c>user</c>, <c>group</c> and <c>chroot</c> (recorded;
    /// <see cref="RulesetSupport"/> refuses them: our filters run as the daemon's user).</summary>
    private static FilterSpec.Process ParseProcCommand(TokenCursor c, string after)
    {
        var spec = new FilterSpec.Process(c.ExpectValue(after));
        while (!c.AtEnd)
        {
            var word = c.Take();
            spec = (word.Quoted ? "" : word.Text) switch
            {
                "user" => spec with { User = c.ExpectValue("user") },
                "group" => spec with { Group = c.ExpectValue("group") },
                "chroot" => spec with { Chroot = c.ExpectValue("chroot") },
                _ => throw new ConfigSyntaxException(word.Location, $"unexpected {word.Display} after the command (user, group or chroot)"),
            };
        }
        return spec;
    }

    private FilterSpec.Chain ParseChain(TokenCursor c, string name)
    {
        var open = c.Peek();
        if (!c.TryPunct(TokenKind.LeftBrace))
            throw c.Unexpected($"filter {name} chain", "expected '{'");
        // An unclosed brace swallows the lines after it: name the brace, not what follows.
        if (!Enumerable.Range(0, int.MaxValue).Select(i => c.Peek(i)).TakeWhile(t => t.Kind != TokenKind.End).Any(t => t.Kind == TokenKind.RightBrace))
            throw new ConfigSyntaxException(open.Location, $"missing '}}' after 'filter {name} chain {{'");
        var members = new List<string>();
        while (!c.TryPunct(TokenKind.RightBrace))
        {
            // Commas between names are optional, as in OpenSMTPD's lists.
            if (members.Count > 0 && c.TryPunct(TokenKind.Comma) && c.TryPunct(TokenKind.RightBrace)) break;
            string member = c.ExpectValue($"filter {name} chain");
            if (!filters.TryGetValue(member, out var f))
                throw new ConfigSyntaxException(c.Previous.Location, $"undefined filter '{member}' in chain {name}");
            if (f.Spec is FilterSpec.Chain)
                throw new ConfigSyntaxException(c.Previous.Location, $"filter chain {name} cannot contain the chain '{member}'");
            // A milter's changes after our signature would break it: milters come first (issue 23).
            if (f.Spec is FilterSpec.Milter && members.FirstOrDefault(m => filters[m].Spec is FilterSpec.DkimSign) is { } signer)
                throw new ConfigSyntaxException(c.Previous.Location, $"milter '{member}' must come before dkim-sign '{signer}' in chain {name}");
            members.Add(member);
        }
        if (members.Count == 0)
            throw new ConfigSyntaxException(c.Previous.Location, $"filter chain {name} is empty");
        return new FilterSpec.Chain(members);
    }

    private string AddAnonymousChain(TokenCursor c, Token at)
    {
        string name = $"anonymous-chain:{filters.Count(f => f.Key.StartsWith("anonymous-chain:", StringComparison.Ordinal)) + 1}";
        int start = c.Position;
        var chain = ParseChain(c, name);
        filters.Add(name, new FilterConfig(name, "filter", c.TextFrom(start), at.Location) { Spec = chain });
        return name;
    }

    private FilterSpec.Builtin ParseBuiltin(TokenCursor c, string name)
    {
        // Phase names (connect, helo, mail-from...) are also keywords elsewhere: any word will do here.
        var phaseToken = c.Take();
        string phase = phaseToken.Text;
        if (!phaseToken.IsWord || !BuiltinPhases.Contains(phase))
            throw new ConfigSyntaxException(phaseToken.Location, $"invalid phase {phaseToken.Display} ({string.Join(", ", BuiltinPhases)})");
        c.ExpectKeyword("match", $"filter {name}");
        var conditions = new List<FilterCondition>();
        while (true)
        {
            bool negated = c.TryPunct(TokenKind.Bang);
            var word = c.Peek();
            FilterConditionKind? kind = word.IsWord && !word.Quoted ? word.Text switch
            {
                "fcrdns" => FilterConditionKind.Fcrdns,
                "rdns" => FilterConditionKind.Rdns,
                "src" => FilterConditionKind.Src,
                "helo" => FilterConditionKind.Helo,
                "auth" => FilterConditionKind.Auth,
                "mail-from" => FilterConditionKind.MailFrom,
                "rcpt-to" => FilterConditionKind.RcptTo,
                _ => null,
            } : null;
            if (kind is null)
            {
                if (negated || conditions.Count == 0)
                    throw c.Unexpected($"filter {name}", "expected a condition: fcrdns, rdns, src, helo, auth, mail-from or rcpt-to");
                break;
            }
            c.Take();
            conditions.Add(ParseCondition(c, kind.Value, negated, name));
        }

        var decision = c.Take();
        if (!decision.IsWord || decision.Quoted)
            throw new ConfigSyntaxException(decision.Location, $"expected a decision in filter {name}: bypass, junk, reject, disconnect, rewrite or report");
        switch (decision.Text)
        {
            case "bypass": return new FilterSpec.Builtin(phase, conditions, FilterDecision.Bypass, null);
            case "junk":
                if (phase == "commit")
                    throw new ConfigSyntaxException(decision.Location, "junk cannot be decided at phase commit (the message is already received)");
                return new FilterSpec.Builtin(phase, conditions, FilterDecision.Junk, null);
            case "reject" or "disconnect":
                string reply = c.ExpectValue(decision.Text);
                if (!IsValidFilterReply(reply))
                    throw new ConfigSyntaxException(c.Previous.Location, $"invalid reply \"{reply}\": expected a 4xx or 5xx code then text");
                return new FilterSpec.Builtin(phase, conditions, decision.Text == "reject" ? FilterDecision.Reject : FilterDecision.Disconnect, reply);
            case "rewrite":
                return new FilterSpec.Builtin(phase, conditions, FilterDecision.Rewrite, c.ExpectValue("rewrite"));
            case "report":
                return new FilterSpec.Builtin(phase, conditions, FilterDecision.Report, c.ExpectValue("report"));
            default:
                throw new ConfigSyntaxException(decision.Location, $"unknown decision '{decision.Text}' in filter {name} (bypass, junk, reject, disconnect, rewrite or report)");
        }
    }

    private FilterCondition ParseCondition(TokenCursor c, FilterConditionKind kind, bool negated, string name)
    {
        bool regex = c.TryKeyword("regex");
        if (PeekTableRef(c))
        {
            if (kind == FilterConditionKind.Fcrdns)
                throw new ConfigSyntaxException(c.Peek().Location, "fcrdns takes no table");
            return new FilterCondition(kind, negated, ParseTableRef(c, kind.ToString()), regex);
        }
        if (regex)
        {
            string pattern = c.ExpectValue("regex");
            try { _ = new System.Text.RegularExpressions.Regex(pattern); }
            catch (ArgumentException ex) { throw new ConfigSyntaxException(c.Previous.Location, $"invalid regex \"{pattern}\": {ex.Message}"); }
            return new FilterCondition(kind, negated, Regex: true, Pattern: pattern);
        }
        if (kind is FilterConditionKind.Fcrdns or FilterConditionKind.Rdns or FilterConditionKind.Auth)
            return new FilterCondition(kind, negated);
        throw c.Unexpected($"filter {name}", $"expected a table <name> or regex after '{kind}'");
    }

    /// <summary>OpenSMTPD's valid_smtp_response: three digits, 4xx or 5xx, then a space or the end.</summary>
    internal static bool IsValidFilterReply(string reply) =>
        reply.Length >= 3 && reply[0] is '4' or '5' && char.IsAsciiDigit(reply[1]) && char.IsAsciiDigit(reply[2])
        && (reply.Length == 3 || reply[3] == ' ');

    private static FilterSpec.DkimSign ParseDkimSign(TokenCursor c, string name)
    {
        string? domain = null, selector = null, key = null, algorithm = null;
        IReadOnlyList<string>? headers = null;
        while (!c.AtEnd)
        {
            var word = c.Take();
            switch (word.Quoted ? "" : word.Text)
            {
                case "domain": domain = c.ExpectValue("domain"); break;
                case "selector": selector = c.ExpectValue("selector"); break;
                case "key": key = c.ExpectValue("key"); break;
                case "algorithm":
                    algorithm = c.ExpectValue("algorithm");
                    if (algorithm is not ("rsa-sha256" or "ed25519-sha256"))
                        throw new ConfigSyntaxException(c.Previous.Location, $"unknown DKIM algorithm '{algorithm}' (rsa-sha256 or ed25519-sha256)");
                    break;
                case "headers":
                    headers = c.ExpectValue("headers").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    break;
                default:
                    throw new ConfigSyntaxException(word.Location, $"unknown keyword {word.Display} in filter {name} dkim-sign (domain, selector, key, algorithm, headers)");
            }
        }
        if (domain is null || selector is null || key is null)
            throw new ConfigSyntaxException(c.Previous.Location, $"filter {name} dkim-sign needs domain, selector and key");
        if (headers is not null && !headers.Contains("From", StringComparer.OrdinalIgnoreCase))
            throw new ConfigSyntaxException(c.Previous.Location, "a DKIM signature must cover From (RFC 6376 5.4)");
        return new FilterSpec.DkimSign(domain, selector, key, algorithm ?? "rsa-sha256", headers ?? DefaultDkimHeaders);
    }
}
