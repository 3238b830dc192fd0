using System.Text.RegularExpressions;

namespace Smtpd.Tests.SideBySide;

/// <summary>What of an SMTP reply is compared between the servers: the code, the enhanced code (RFC 3463) and chosen words.</summary>
public static partial class SmtpReply
{
    /// <summary>"550 5.1.1" from "550 5.1.1 Invalid recipient: &lt;x@y&gt;"; the last line of a multi-line reply; "(closed)" kept as is.</summary>
    public static string Codes(string reply)
    {
        string last = reply.Split('\n')[^1];
        var m = CodesPattern().Match(last);
        return m.Success ? (m.Groups[1].Value + " " + m.Groups[2].Value).Trim() : last;
    }

    /// <summary>Codes, and for each word whether the reply's text carries it (case-insensitive): "550 5.1.1 +invalid recipient".</summary>
    public static string CodesAndWords(string reply, params string[] words) =>
        Codes(reply) + string.Concat(words.Select(w => (reply.Contains(w, StringComparison.OrdinalIgnoreCase) ? " +" : " -") + w.ToLowerInvariant()));

    /// <summary>The basic code and, for each word, whether the reply carries it: "550 +invalid recipient: &lt;x@y&gt;".</summary>
    public static string BasicAndWords(string reply, params string[] words) =>
        Codes(reply)[..Math.Min(3, Codes(reply).Length)] + string.Concat(words.Select(w => (reply.Contains(w, StringComparison.OrdinalIgnoreCase) ? " +" : " -") + w.ToLowerInvariant()));

    /// <summary>The keywords of an EHLO reply (the first word of each line after the greeting), sorted.</summary>
    public static string EhloKeywords(string reply) =>
        string.Join(" ", reply.Split('\n').Skip(1).Select(l => l.Length > 4 ? l[4..].Split(' ')[0].ToUpperInvariant() : "").Order(StringComparer.Ordinal));

    [GeneratedRegex(@"^(\d{3})[ -]?(\d\.\d{1,3}\.\d{1,3})?")]
    private static partial Regex CodesPattern();
}
