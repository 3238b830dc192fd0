using System.Text.RegularExpressions;

namespace Smtpd.Table;

/// <summary>
/// What a table's keys and values must look like for each service (OpenSMTPD's
/// table_parse_lookup, text_to_netaddr, text_to_userinfo, alias_is_*). Each check returns
/// null when the text is good, else why not, in words an administrator can act on. The same
/// checks run when a file table is read (so a bad line is named at file:line) and when a value
/// comes from a backend that cannot be read whole (sqlite, ldap, postgres, proc).
/// </summary>
public static class TableValues
{
    /// <summary>A domain list entry: <c>example.org</c>, <c>*.example.org</c>, <c>[192.0.2.1]</c>.</summary>
    public static string? DomainProblem(string text)
    {
        if (text.StartsWith('[') && text.EndsWith(']'))
            return NetworkText.TryParseAddress(text, out _) ? null : "not an address literal";
        string name = text.StartsWith("*.", StringComparison.Ordinal) ? text[2..] : text;
        return HostnameProblem(name);
    }

    /// <summary>A host name (an addrname value, a domain without wildcard).</summary>
    public static string? HostnameProblem(string text)
    {
        string name = text.EndsWith('.') ? text[..^1] : text;
        if (name.Length == 0) return "empty name";
        if (name.Length > 253) return "longer than 253 characters";
        if (name.Contains('@')) return "a domain has no '@' (this looks like an address)";
        foreach (string label in name.Split('.'))
        {
            if (label.Length == 0) return "empty label (two dots, or a leading dot)";
            if (label.Length > 63) return "a label is longer than 63 characters";
            foreach (char c in label)
                if (!(char.IsLetterOrDigit(c) || c is '-' or '_'))
                    return c == '*' ? "'*' may only be the first label (\"*.example.org\")" : $"{Describe(c)} is not allowed in a domain";
        }
        return null;
    }

    /// <summary>A <c>netaddr</c> entry: an IPv4 or IPv6 address, or a network in CIDR form.</summary>
    public static string? NetworkProblem(string text) =>
        NetworkText.TryParseNetwork(text, out _, out _) ? null : "not an IP address or a network (192.0.2.0/24, 2001:db8::/32)";

    /// <summary>A <c>source</c> entry or an <c>addrname</c> key: one IP address.</summary>
    public static string? AddressProblem(string text) =>
        NetworkText.TryParseAddress(text, out _) ? null : "not an IP address";

    /// <summary>A <c>mailaddr</c> entry: <c>user@domain</c>, <c>@domain</c>, <c>user@</c>, or a bare domain or user.</summary>
    public static string? MailAddrProblem(string text)
    {
        if (text.Length == 0) return "empty address";
        foreach (char c in text)
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>' or ',')
                return $"{Describe(c)} is not allowed in an address";
        int at = text.LastIndexOf('@');
        if (at < 0) return null;
        string domain = text[(at + 1)..];
        return domain.Length == 0 ? null : DomainProblem(domain) is { } why ? $"domain \"{domain}\": {why}" : null;
    }

    /// <summary>A <c>mailaddrmap</c> value (<c>senders</c>): addresses separated by commas or spaces.</summary>
    public static string? MailAddrListProblem(string text)
    {
        var entries = text.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (entries.Length == 0) return "no address";
        foreach (string entry in entries)
            if (MailAddrProblem(entry.Trim('<', '>')) is { } why) return $"\"{entry}\": {why}";
        return null;
    }

    /// <summary>A <c>userinfo</c> value: <c>uid:gid:/home</c>.</summary>
    public static string? UserInfoProblem(string text) =>
        TryParseUserInfo(text, out _, out _, out _) ? null : "not uid:gid:/home (two numbers and an absolute directory)";

    public static bool TryParseUserInfo(string text, out uint uid, out uint gid, out string home)
    {
        uid = gid = 0;
        home = "";
        string[] parts = text.Trim().Trim('"').Split(':', 3);
        if (parts.Length != 3 || !IsNumber(parts[0]) || !IsNumber(parts[1]) || !parts[2].StartsWith('/')) return false;
        home = parts[2];
        return uint.TryParse(parts[0], out uid) && uint.TryParse(parts[1], out gid);
    }

    /// <summary>
    /// A <c>credentials</c> value for <c>listen … auth &lt;t&gt;</c>: a crypt(3) hash, optionally
    /// after <c>user:</c>. A password in clear never matches, so it is an error, not a silent 535.
    /// </summary>
    public static string? PasswordHashProblem(string text)
    {
        int colon = text.IndexOf(':');
        string hash = colon < 0 ? text : text[(colon + 1)..];
        if (colon == 0 || hash.Length == 0) return "not user:hash or a hash";
        bool modular = hash.Length > 3 && hash[0] == '$' && hash.IndexOf('$', 1) > 1;
        bool des = hash.Length == 13 && hash.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '/');
        return modular || des ? null : "not a password hash (make one with \"smtpctl encrypt\")";
    }

    /// <summary>A <c>credentials</c> value for relaying (<c>auth &lt;t&gt;</c> on an action): <c>login:password</c>.</summary>
    public static string? RelaySecretProblem(string text) =>
        TryParseRelaySecret(text, out _, out _) ? null : "not login:password";

    public static bool TryParseRelaySecret(string text, out string login, out string password)
    {
        int colon = text.IndexOf(':');
        login = colon > 0 ? text[..colon].Trim() : "";
        password = colon > 0 ? text[(colon + 1)..].Trim() : "";
        return login.Length > 0 && password.Length > 0;
    }

    /// <summary>A regular expression entry (<c>regex &lt;t&gt;</c>).</summary>
    public static string? RegexProblem(string text)
    {
        try { _ = new Regex(text, RegexOptions.CultureInvariant); return null; }
        catch (ArgumentException ex) { return $"not a regular expression: {ex.Message}"; }
    }

    /// <summary>A <c>virtual</c> key: <c>user@domain</c>, <c>user</c>, <c>@domain</c> or <c>@</c>.</summary>
    public static string? VirtualKeyProblem(string text) => text == "@" ? null : MailAddrProblem(text);

    /// <summary>
    /// An <c>alias</c> or <c>virtual</c> value: comma-separated users, addresses, <c>|command</c>,
    /// <c>/file</c>, <c>:include:/file</c> and <c>error:NNN text</c> (OpenSMTPD's expand_line).
    /// </summary>
    public static string? AliasProblem(string text)
    {
        var items = AliasItems.Split(text, out bool unbalanced);
        if (unbalanced) return "a quote is not closed";
        int count = 0;
        foreach (string raw in items)
        {
            string item = AliasItems.Clean(raw);
            if (item.Length == 0) continue;
            count++;
            if (AliasItemProblem(item) is { } why) return $"\"{item}\": {why}";
        }
        return count == 0 ? "no recipient" : null;
    }

    static string? AliasItemProblem(string item)
    {
        if (item.StartsWith('|')) return item[1..].Trim().Length == 0 ? "no command after '|'" : null;
        if (item.StartsWith('/')) return null;
        if (item.StartsWith(":include:", StringComparison.OrdinalIgnoreCase))
            return item[9..].Trim().StartsWith('/') ? null : "an include needs an absolute path";
        if (item.StartsWith("error:", StringComparison.OrdinalIgnoreCase))
            return Regex.IsMatch(item[6..].Trim(), @"^[45][0-9]{2} \S") ? null : "not error:CODE text, with CODE 4xx or 5xx";
        string name = item.StartsWith('\\') ? item[1..] : item;
        int at = name.LastIndexOf('@');
        if (at >= 0)
            return Smtp.MailAddress.TryParse(name.Trim('<', '>'), allowNoDomain: false, out _) ? null : "not a mail address";
        foreach (char c in name)
            if (!(char.IsLetterOrDigit(c) || c is '_' or '.' or '-' or '+'))
                return $"{Describe(c)} is not allowed in a user name";
        return name.Length == 0 ? "empty user name" : null;
    }

    static bool IsNumber(string s) => s.Length is > 0 and <= 10 && s.All(char.IsAsciiDigit);

    static string Describe(char c) => char.IsWhiteSpace(c) ? "a space" : char.IsControl(c) ? $"control character U+{(int)c:X4}" : $"'{c}'";
}
