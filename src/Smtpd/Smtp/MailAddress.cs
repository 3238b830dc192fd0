using System.Globalization;
using System.Text;

namespace Smtpd.Smtp;

/// <summary>
/// A mailbox as given in MAIL FROM / RCPT TO (RFC 5321 4.1.2): local part and domain.
/// The null sender <c>&lt;&gt;</c> has both empty.
/// </summary>
public sealed record MailAddress(string User, string Domain)
{
    public static readonly MailAddress Null = new("", "");

    public bool IsNull => User.Length == 0 && Domain.Length == 0;

    public override string ToString() => IsNull ? "" : Domain.Length == 0 ? User : $"{User}@{Domain}";

    /// <summary>
    /// Parses the text between the angle brackets. Accepts a dot-atom or quoted local part, a
    /// domain name or an address literal; rejects control characters, spaces and empty parts.
    /// A source route (<c>@a,@b:user@d</c>, RFC 5321 C) is accepted and dropped.
    /// </summary>
    public static bool TryParse(string text, bool allowNoDomain, out MailAddress address)
    {
        address = Null;
        if (text.Length is 0 or > 512) return false;
        if (text[0] == '@')
        {
            int colon = text.IndexOf(':');
            if (colon < 0) return false;
            text = text[(colon + 1)..];
        }

        int at = LastAtOutsideQuotes(text);
        string user = at < 0 ? text : text[..at];
        string domain = at < 0 ? "" : text[(at + 1)..];
        if (!IsValidLocalPart(user)) return false;
        if (at < 0 && !allowNoDomain) return false;
        if (at >= 0 && !IsValidDomain(domain)) return false;
        address = new MailAddress(user, domain);
        return true;
    }

    static int LastAtOutsideQuotes(string s)
    {
        bool quoted = false; int last = -1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && quoted) { i++; continue; }
            if (s[i] == '"') quoted = !quoted;
            else if (s[i] == '@' && !quoted) last = i;
        }
        return quoted ? -1 : last;
    }

    static bool IsValidLocalPart(string s)
    {
        if (s.Length is 0 or > 64 * 4) return false;
        if (s[0] == '"') return IsQuotedString(s);
        if (s[0] == '.' || s[^1] == '.' || s.Contains("..")) return false;
        foreach (char c in s)
        {
            // atext (RFC 5322 3.2.3), plus UTF-8 (RFC 6531) which real mail carries.
            if (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~.".Contains(c) || c > 0x7f) continue;
            return false;
        }
        return true;
    }

    // One Quoted-string (RFC 5321 4.1.2), '"' and '\' escaped inside: "a"b"@x is no address to other
    // parsers, MimeKit's included, and a bounce to it threw (found by fuzzing).
    static bool IsQuotedString(string s)
    {
        if (s.Length < 2 || s[^1] != '"') return false;
        for (int i = 1; i < s.Length - 1; i++)
        {
            char c = s[i];
            if (c < 0x20 || c == 0x7f || c == '"') return false;
            if (c == '\\' && (++i == s.Length - 1 || s[i] < 0x20 || s[i] == 0x7f)) return false; // quoted-pairSMTP
        }
        return true;
    }

    public static bool IsValidDomain(string s)
    {
        if (s.Length is 0 or > 255) return false;
        // address-literal (RFC 5321 4.1.3): dcontent excludes '[', '\' and ']' (found by fuzzing: MimeKit refuses them).
        if (s[0] == '[') return s[^1] == ']' && s.Length > 2 && s[1..^1].All(c => c > 0x20 && c < 0x7f && c is not ('[' or '\\' or ']'));
        // One final dot (a rooted name) is allowed; "a..." has empty labels, and MimeKit refuses them (found by fuzzing).
        foreach (var label in (s[^1] == '.' ? s[..^1] : s).Split('.'))
        {
            if (label.Length is 0 or > 63) return false;
            if (label[0] == '-' || label[^1] == '-') return false;
            foreach (var r in label.EnumerateRunes())
                if (!(r.IsAscii ? char.IsAsciiLetterOrDigit((char)r.Value) || r.Value is '-' or '_' : IsIdnCharacter(r))) return false;
        }
        return true;
    }

    // Beyond ASCII, what an internationalized domain name is made of (IDNA2008 allows letters,
    // combining marks and digits): a symbol such as U+0385 became "xn-- type-6ed2c" in MimeKit's
    // punycode, a name with a space, and a bounce to it had two addressees (found by fuzzing).
    static bool IsIdnCharacter(Rune r) => Rune.GetUnicodeCategory(r) is
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
        or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark
        or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber;
}
