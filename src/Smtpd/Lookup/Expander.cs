using Smtpd.Config;
using Smtpd.Mda;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd.Lookup;

/// <summary>
/// Expands a recipient of a local action into deliveries (OpenSMTPD's lka_expand): through a
/// <c>virtual</c> table (addresses, <c>@domain</c> and <c>@</c> catch-alls) or an <c>alias</c>
/// table (keys folded to lowercase), then the user's <c>~/.forward</c>. Values are lists of
/// users, addresses (routed again by the rules), <c>|command</c>, <c>/file</c>,
/// <c>:include:/path</c> and <c>error:CODE text</c>. Loops are cut, depth is bounded.
/// </summary>
/// <param name="readForward">Reads a user's ~/.forward (null: none); by default directly, in a
/// daemon that gave up root through the privileged helper.</param>
public sealed class Expander(Ruleset ruleset, TableSet tables, Func<string, SystemUser?> users,
    Expander.Router reroute, Expander.ForwardReader? readForward = null)
{
    public const int MaxDepth = 10;

    /// <summary>Routes an address an expansion produced through the rules again.</summary>
    public delegate ValueTask<RecipientDecision> Router(SessionInfo session, MailAddress rcpt, int depth, CancellationToken ct);

    /// <summary>A user's ~/.forward (null: none); an IOException when it cannot be read now.</summary>
    public delegate ValueTask<string?> ForwardReader(SystemUser user, CancellationToken ct);

    sealed class Walk(ActionConfig action, MailAddress rcpt, SessionInfo session, int depth, CancellationToken ct)
    {
        public CancellationToken Ct { get; } = ct;
        public ActionConfig Action { get; } = action;
        public MailAddress Rcpt { get; } = rcpt;
        public SessionInfo Session { get; } = session;
        public int Depth { get; } = depth;
        public List<RecipientDecision.Accept> Out { get; } = [];
        public HashSet<string> Seen { get; } = new(StringComparer.OrdinalIgnoreCase);
        public RecipientDecision.Refuse? Refused { get; set; }
    }

    public async ValueTask<RecipientDecision> ExpandAsync(ActionConfig action, MailAddress rcpt, SessionInfo session, int depth, CancellationToken ct = default)
    {
        var w = new Walk(action, rcpt, session, depth, ct);
        var (user, tag) = SplitTag(rcpt.User);
        try
        {
            if (action.VirtualTable is { } vt)
            {
                string? value = await VirtualLookupAsync(vt, rcpt, user, ct);
                if (value is null) return new RecipientDecision.Refuse(Replies.UnknownUser, $"no virtual entry for {rcpt}");
                await ItemsAsync(w, value, 1, owner: null, tag);
            }
            else if (action.AliasTable is not null)
                await AliasOrUserAsync(w, user.ToLowerInvariant(), tag, 1);
            else
                await LocalUserAsync(w, user, tag, 1, forward: true);
        }
        catch (TableTempFailException ex) { return new RecipientDecision.Refuse(Replies.TempFailure, ex.Message); }
        // An :include: or .forward we may not read (UnauthorizedAccessException is no IOException) is temporary too.
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return new RecipientDecision.Refuse(Replies.TempFailure, SystemErrors.Describe(ex)); }

        if (w.Refused is { } refused) return refused;
        // One copy per mailbox however many ways the expansion reached it (an alias naming a user who
        // is also in another member's .forward): OpenSMTPD 6.8 gives two through an alias table and one
        // through a virtual table; we give one both ways (docs/DEVIATIONS.md).
        var deliveries = w.Out.DistinctBy(a => (a.Action.Name, a.Dest, a.MdaUser, a.MdaMethod, a.MdaTarget)).ToList();
        return deliveries.Count switch
        {
            0 => new RecipientDecision.Refuse(Replies.UnknownUser, $"{rcpt} expands to nothing"),
            1 => deliveries[0],
            _ => new RecipientDecision.Expanded(deliveries),
        };
    }

    (string User, string? Tag) SplitTag(string local)
    {
        int plus = local.IndexOf(ruleset.SubAddressDelimiter);
        return plus > 0 ? (local[..plus], local[(plus + 1)..]) : (local, null);
    }

    /// <summary>user+tag@domain, user@domain, user, @domain, @ — the first key the table has.</summary>
    async ValueTask<string?> VirtualLookupAsync(string table, MailAddress rcpt, string user, CancellationToken ct)
    {
        var t = tables[table];
        string domain = rcpt.Domain.ToLowerInvariant();
        foreach (string key in new[] { rcpt.ToString().ToLowerInvariant(), $"{user}@{domain}".ToLowerInvariant(), user.ToLowerInvariant(), "@" + domain, "@" })
            if (await t.LookupAsync(TableService.Virtual, key, ct) is { } value) { CheckValue(table, key, value); return value; }
        return null;
    }

    /// <summary>
    /// A value that does not parse as an alias list is the table's fault, not the recipient's:
    /// a temporary failure (451) that names the table and key, as OpenSMTPD's failed lookup.
    /// File and db tables were checked whole when read; this catches sqlite, ldap, postgres, proc.
    /// </summary>
    static void CheckValue(string table, string key, string value)
    {
        if (TableValues.AliasProblem(value) is { } why) throw new TableTempFailException(table, $"bad alias value for \"{key}\": {why}");
    }

    async ValueTask AliasOrUserAsync(Walk w, string name, string? tag, int depth)
    {
        if (!Guard(w, depth) || !w.Seen.Add("alias:" + name)) return;
        string? value = await tables[w.Action.AliasTable!].LookupAsync(TableService.Alias, name, w.Ct);
        if (value is not null) CheckValue(w.Action.AliasTable!, name, value);
        if (value is null) await LocalUserAsync(w, name, tag, depth, forward: true);
        else await ItemsAsync(w, value, depth + 1, owner: name, tag);
    }

    async ValueTask LocalUserAsync(Walk w, string name, string? tag, int depth, bool forward)
    {
        // A user's .forward is read once ("forward:"), and the user's own mailbox is delivered once
        // ("user:"): "\me" in my .forward, reached after the .forward was read, still gets its copy.
        if (!Guard(w, depth) || !w.Seen.Add((forward ? "forward:" : "user:") + name)) return;
        var user = w.Action.UserbaseTable is { } userbase ? await Userbase.GetAsync(tables, userbase, name, w.Ct) : users(name.ToLowerInvariant());
        if (user is null)
        {
            w.Refused ??= new RecipientDecision.Refuse(Replies.UnknownUser, $"no local user {name}");
            return;
        }
        if (forward && await ReadForwardAsync(user, w.Ct) is { } content)
        {
            await ItemsAsync(w, content, depth + 1, owner: user.Name, tag, fromForward: user.Name);
            return;
        }
        if (forward && !w.Seen.Add("user:" + name)) return;
        string dest = w.Rcpt.Domain.Length == 0 ? w.Rcpt.User : w.Rcpt.ToString();
        w.Out.Add(new RecipientDecision.Accept(w.Action, dest, user.Name, tag));
    }

    /// <summary>A user's ~/.forward, or null when there is none or it says nothing (normal delivery).</summary>
    async ValueTask<string?> ReadForwardAsync(SystemUser user, CancellationToken ct)
    {
        string? text = await (readForward ?? ReadForwardFile)(user, ct);
        if (text is null) return null;
        var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        return lines.Count == 0 ? null : string.Join(',', lines);
    }

    /// <summary>Read here, when the daemon kept the rights to: a small local file, answered at once.</summary>
    static ValueTask<string?> ReadForwardFile(SystemUser user, CancellationToken ct)
    {
        string path = Path.Combine(user.Home, ".forward");
        return new(File.Exists(path) ? File.ReadAllText(path) : null);
    }

    /// <param name="owner">Whose alias or .forward this is: commands and files run as them (never as root).</param>
    async ValueTask ItemsAsync(Walk w, string value, int depth, string? owner, string? tag, string? fromForward = null)
    {
        if (!Guard(w, depth)) return;
        foreach (string raw in AliasItems.Split(value, out _))
        {
            string item = AliasItems.Clean(raw);
            if (item.Length == 0) continue;
            if (item.StartsWith('|')) Special(w, "mda", item[1..].Trim(), owner);
            else if (item.StartsWith('/')) Special(w, "file", item, owner);
            else if (item.StartsWith(":include:", StringComparison.OrdinalIgnoreCase))
            {
                string path = item[9..].Trim();
                if (!w.Seen.Add("include:" + path)) continue;
                var included = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'));
                await ItemsAsync(w, string.Join(',', included), depth + 1, owner, tag);
            }
            else if (item.StartsWith("error:", StringComparison.OrdinalIgnoreCase)) Error(w, item[6..].Trim());
            else if (item.StartsWith('\\')) await LocalUserAsync(w, item[1..], tag, depth + 1, forward: false);
            else if (item.Contains('@')) await AddressAsync(w, item, depth + 1);
            else if (fromForward is not null && string.Equals(item, fromForward, StringComparison.OrdinalIgnoreCase))
                await LocalUserAsync(w, item, tag, depth + 1, forward: false); // "me" in my own .forward: keep a copy
            else if (w.Action.AliasTable is not null) await AliasOrUserAsync(w, item.ToLowerInvariant(), tag, depth + 1);
            else await LocalUserAsync(w, item, tag, depth + 1, forward: true);
        }
    }

    void Special(Walk w, string method, string target, string? owner)
    {
        // Commands and files never run as root: as the owner of the alias or .forward if that is
        // an ordinary user, else as the action's "user", else as nobody.
        var runAs = new[] { owner, w.Action.User, "nobody" }.Select(n => n is null ? null : users(n)).FirstOrDefault(u => u is { Uid: > 0 });
        if (runAs is null)
        {
            w.Refused ??= new RecipientDecision.Refuse(Replies.TempFailure, "no unprivileged user to run an alias command or file delivery as");
            return;
        }
        string dest = w.Rcpt.Domain.Length == 0 ? w.Rcpt.User : w.Rcpt.ToString();
        w.Out.Add(new RecipientDecision.Accept(w.Action, dest, runAs.Name, null, method, target));
    }

    async ValueTask AddressAsync(Walk w, string text, int depth)
    {
        if (!Guard(w, depth) || !w.Seen.Add("address:" + text)) return;
        if (!MailAddress.TryParse(text.Trim('<', '>'), allowNoDomain: false, out var address))
        {
            w.Refused ??= new RecipientDecision.Refuse(Replies.UnknownUser, $"invalid address in expansion: {text}");
            return;
        }
        switch (await reroute(w.Session, address, depth, w.Ct))
        {
            case RecipientDecision.Accept a: w.Out.Add(a); break;
            case RecipientDecision.Expanded x: w.Out.AddRange(x.Deliveries); break;
            case RecipientDecision.Refuse r: w.Refused ??= r; break;
        }
    }

    /// <summary><c>error:550 text</c>: the recipient is refused with that reply (4xx or 5xx).</summary>
    static void Error(Walk w, string spec)
    {
        string[] parts = spec.Split(' ', 2);
        int code = int.TryParse(parts[0], out int c) && c is >= 400 and < 600 ? c : 550;
        string text = parts.Length > 1 ? parts[1] : "Delivery refused";
        // "error:550 5.2.1 text" names its own enhanced code (RFC 3463), kept when its class matches the reply's.
        string enhanced = code >= 500 ? "5.0.0" : "4.0.0";
        if (text.Split(' ', 2) is [var first, ..] && IsEnhancedCode(first, code))
        {
            enhanced = first;
            text = text.Length > first.Length ? text[(first.Length + 1)..].TrimStart() : "Delivery refused";
        }
        w.Refused ??= new RecipientDecision.Refuse(new Reply(code, enhanced, text), $"alias error: {code} {text}");
    }

    static bool IsEnhancedCode(string s, int code) =>
        s.Split('.') is [var c, var subject, var detail]
        && c == (code / 100).ToString(System.Globalization.CultureInfo.InvariantCulture)
        && subject.Length is >= 1 and <= 3 && subject.All(char.IsAsciiDigit)
        && detail.Length is >= 1 and <= 3 && detail.All(char.IsAsciiDigit);

    bool Guard(Walk w, int depth)
    {
        if (depth + w.Depth <= MaxDepth) return true;
        w.Refused ??= new RecipientDecision.Refuse(Replies.TooManyHops, "expansion loop or too deep");
        return false;
    }
}
