using System.Text;
using Smtpd.Queue;

namespace Smtpd.Mda;

/// <summary>
/// Expands smtpd.conf(5) format specifiers in delivery paths and commands:
/// <c>%{sender}</c>, <c>%{rcpt}</c>, <c>%{dest}</c> (each with <c>.user</c>/<c>.domain</c>),
/// <c>%{user.username}</c>, <c>%{user.directory}</c>, <c>%{mbox.from}</c>, optional
/// <c>:lowercase</c>/<c>:uppercase</c>; a leading <c>~</c> is the user's home.
/// Address parts come from the client, so a value that could leave the intended directory
/// (a '/', or a leading '.') makes the expansion fail instead of writing elsewhere.
/// </summary>
public static class FormatSpecifiers
{
    public static bool TryExpand(string template, Envelope e, SystemUser user, out string result)
    {
        var sb = new StringBuilder();
        int i = 0;
        if (template.StartsWith('~')) { sb.Append(user.Home.TrimEnd('/')); i = 1; }
        result = "";
        while (i < template.Length)
        {
            int start = template.IndexOf("%{", i, StringComparison.Ordinal);
            if (start < 0) { sb.Append(template, i, template.Length - i); break; }
            sb.Append(template, i, start - i);
            int end = template.IndexOf('}', start);
            if (end < 0) return false;
            string token = template[(start + 2)..end];
            if (!TryToken(token, e, user, out string value)) return false;
            sb.Append(value);
            i = end + 1;
        }
        result = sb.ToString();
        return true;
    }

    static bool TryToken(string token, Envelope e, SystemUser user, out string value)
    {
        value = "";
        string[] parts = token.Split(':');
        string name = parts[0].ToLowerInvariant();
        bool fromClient = true;
        string? raw = name switch
        {
            "sender" => e.Sender,
            "sender.user" => UserOf(e.Sender),
            "sender.domain" => DomainOf(e.Sender),
            "rcpt" => e.Rcpt,
            "rcpt.user" => UserOf(e.Rcpt),
            "rcpt.domain" => DomainOf(e.Rcpt),
            "dest" => e.Dest,
            "dest.user" => UserOf(e.Dest),
            "dest.domain" => DomainOf(e.Dest),
            "mbox.from" => e.Sender.Length == 0 ? "MAILER-DAEMON" : e.Sender,
            _ => null,
        };
        if (raw is null)
        {
            fromClient = false;
            raw = name switch
            {
                "user.username" => user.Name,
                "user.directory" => user.Home,
                _ => null,
            };
        }
        if (raw is null) return false;

        foreach (var modifier in parts.Skip(1))
        {
            raw = modifier.ToLowerInvariant() switch
            {
                "lowercase" => raw.ToLowerInvariant(),
                "uppercase" => raw.ToUpperInvariant(),
                _ => null,
            };
            if (raw is null) return false;
        }
        if (fromClient && (raw.Contains('/') || raw.StartsWith('.') || raw.Contains('\0'))) return false;
        value = raw;
        return true;
    }

    static string UserOf(string address) { int at = address.LastIndexOf('@'); return at < 0 ? address : address[..at]; }
    static string DomainOf(string address) { int at = address.LastIndexOf('@'); return at < 0 ? "" : address[(at + 1)..]; }
}
