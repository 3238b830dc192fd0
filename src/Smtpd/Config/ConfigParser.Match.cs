namespace Smtpd.Config;

// match [options] action NAME | match [options] reject (OpenSMTPD 6.4+). Per smtpd.conf(5),
// "from local" and "for local" are the defaults when from or for is not given.
public sealed partial class ConfigParser
{
    private void ParseMatch(TokenCursor c)
    {
        var keyword = c.Take();
        FromCondition? from = null;
        ForCondition? @for = null;
        string? tag = null;
        var conditions = new List<MatchCondition>();
        var seen = new HashSet<MatchKind>();
        while (true)
        {
            bool negate = c.TryPunct(TokenKind.Bang);
            var option = c.Peek();
            if (!negate && option.IsKeyword("action"))
            {
                c.Take();
                string name = c.ExpectValue("action");
                if (!actions.ContainsKey(name) && !brokenActions.Contains(name))
                    throw new ConfigSyntaxException(c.Previous.Location, $"undefined action '{name}'");
                c.ExpectEnd("match");
                Add(reject: false, name);
                return;
            }
            if (!negate && option.IsKeyword("reject"))
            {
                c.Take();
                c.ExpectEnd("match");
                Add(reject: true, null);
                return;
            }
            if (option.Kind == TokenKind.End)
                throw new ConfigSyntaxException(option.Location, "match needs 'action NAME' or 'reject'");
            if (!option.IsWord || option.Quoted)
                throw c.Unexpected("match", null);
            c.Take();
            switch (option.Text)
            {
                case "from":
                    if (from is not null)
                        throw new ConfigSyntaxException(option.Location, "from already specified for this rule");
                    from = ParseMatchFrom(c, negate, conditions);
                    break;
                case "for":
                    if (@for is not null)
                        throw new ConfigSyntaxException(option.Location, "for already specified for this rule");
                    @for = ParseMatchFor(c, negate, conditions);
                    break;
                case "tag" when !negate && !c.Peek().IsKeyword("regex") && !PeekTableRef(c) && tag is null && !seen.Contains(MatchKind.Tag):
                    tag = c.ExpectValue("tag");
                    break;
                case "tag" or "helo" or "auth" or "mail-from" or "rcpt-to" or "tls":
                    var kind = option.Text switch
                    {
                        "tag" => MatchKind.Tag, "helo" => MatchKind.Helo, "auth" => MatchKind.Auth,
                        "mail-from" => MatchKind.MailFrom, "rcpt-to" => MatchKind.RcptTo, _ => MatchKind.Tls,
                    };
                    if (!seen.Add(kind) || (kind == MatchKind.Tag && tag is not null))
                        throw new ConfigSyntaxException(option.Location, $"{option.Text} already specified for this rule");
                    conditions.Add(ParseCondition(c, kind, option.Text, negate));
                    break;
                default:
                    throw new ConfigSyntaxException(option.Location, $"unknown keyword '{option.Text}' in match");
            }
        }

        void Add(bool reject, string? action) =>
            rules.Add(new Rule(reject, from ?? FromCondition.Local, @for ?? ForCondition.Local, tag, action, keyword.Location)
            {
                Conditions = conditions,
            });
    }

    /// <summary><c>[!] helo|auth|mail-from|rcpt-to|tag [regex] value|&lt;t&gt;</c>, <c>[!] tls</c>;
    /// <c>auth</c> alone means "authenticated".</summary>
    private MatchCondition ParseCondition(TokenCursor c, MatchKind kind, string keyword, bool negate)
    {
        if (kind == MatchKind.Tls || (kind == MatchKind.Auth && !PeekTableRef(c) && !c.Peek().IsKeyword("regex") && !c.PeekIsValue()))
            return new MatchCondition(kind, null, false, negate);
        bool regex = c.TryKeyword("regex");
        return new MatchCondition(kind, ParseTables(c, regex ? $"{keyword} regex" : keyword), regex, negate);
    }

    private FromCondition ParseMatchFrom(TokenCursor c, bool negate, List<MatchCondition> conditions)
    {
        var what = c.Take();
        switch (what.Quoted ? "" : what.Text)
        {
            case "any": return new FromCondition(FromKind.Any, null, negate);
            case "local": return new FromCondition(FromKind.Local, null, negate);
            case "socket": return new FromCondition(FromKind.Socket, null, negate);
            case "src":
                bool regex = c.TryKeyword("regex");
                return new FromCondition(FromKind.Source, ParseTables(c, "from src"), negate) { Regex = regex };
            case "rdns":
                if (!PeekTableRef(c) && !c.Peek().IsKeyword("regex") && !c.PeekIsValue())
                    return new FromCondition(FromKind.Rdns, null, negate);
                bool rdnsRegex = c.TryKeyword("regex");
                return new FromCondition(FromKind.Rdns, ParseTables(c, "from rdns"), negate) { Regex = rdnsRegex };
            case "auth":
                if (!PeekTableRef(c) && !c.Peek().IsKeyword("regex") && !c.PeekIsValue())
                    return new FromCondition(FromKind.Auth, null, negate);
                bool authRegex = c.TryKeyword("regex");
                return new FromCondition(FromKind.Auth, ParseTables(c, "from auth"), negate) { Regex = authRegex };
            case "mail-from":
                // As OpenSMTPD: from any host, with a MAIL FROM condition carrying the negation.
                conditions.Add(ParseCondition(c, MatchKind.MailFrom, "from mail-from", negate));
                return FromCondition.Any;
            default:
                throw new ConfigSyntaxException(what.Location, what.Kind == TokenKind.End
                    ? "missing argument after 'from' (any, local, socket, src, rdns, auth or mail-from)"
                    : $"unknown keyword {what.Display} after 'from' (any, local, socket, src, rdns, auth or mail-from)");
        }
    }

    private ForCondition ParseMatchFor(TokenCursor c, bool negate, List<MatchCondition> conditions)
    {
        var what = c.Take();
        switch (what.Quoted ? "" : what.Text)
        {
            case "any": return new ForCondition(ForKind.Any, Negate: negate);
            case "local": return new ForCondition(ForKind.Local, Negate: negate);
            case "domain":
                bool regex = c.TryKeyword("regex");
                if (c.PeekIsValue())
                    return new ForCondition(ForKind.Domain, Domain: DomainLiteral(c.Take(), regex), Negate: negate) { Regex = regex };
                return new ForCondition(ForKind.Domain, Table: ParseTables(c, "for domain"), Negate: negate) { Regex = regex };
            case "rcpt-to":
                // As OpenSMTPD: for any destination, with an RCPT TO condition carrying the negation.
                conditions.Add(ParseCondition(c, MatchKind.RcptTo, "for rcpt-to", negate));
                return ForCondition.Any;
            default:
                throw new ConfigSyntaxException(what.Location, what.Kind == TokenKind.End
                    ? "missing argument after 'for' (any, local, domain or rcpt-to)"
                    : $"unknown keyword {what.Display} after 'for' (any, local, domain or rcpt-to)");
        }
    }
}
