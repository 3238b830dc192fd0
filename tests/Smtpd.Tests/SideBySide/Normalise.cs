using System.Text.RegularExpressions;

namespace Smtpd.Tests.SideBySide;

/// <summary>
/// What may differ between two runs of the same scenario and is blanked before comparing, and
/// nothing else: dates, queue/session/envelope ids, the host and the test's directories.
/// </summary>
public static partial class Normalise
{
    static readonly string Host = System.Net.Dns.GetHostName();

    /// <summary>Dates, ids, this host's name, and the servers' own directories (given) become placeholders.</summary>
    public static string Text(string text, params string[] dirs)
    {
        foreach (var d in dirs.Where(d => d.Length > 0).OrderByDescending(d => d.Length)) text = text.Replace(d, "{dir}");
        text = Rfc5322Date().Replace(text, "<date>");
        text = Hex16().Replace(text, "<id16>");
        text = Hex8().Replace(text, "<id8>");
        text = HostName().Replace(text, "<host>");
        return text.Replace("\r\n", "\n");
    }

    [GeneratedRegex(@"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}(?::\d{2})? [+-]\d{4}(?: \([A-Za-z]+\))?")]
    private static partial Regex Rfc5322Date();
    [GeneratedRegex(@"\b[0-9a-f]{16}\b")]
    private static partial Regex Hex16();
    [GeneratedRegex(@"\b[0-9a-f]{8}\b")]
    private static partial Regex Hex8();

    private static Regex HostName() => new($@"(?<![\w.-]){Regex.Escape(Host)}(?![\w-])");
}
