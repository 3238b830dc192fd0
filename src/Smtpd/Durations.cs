using System.Text;

namespace Smtpd;

/// <summary>Durations as OpenSMTPD prints them in log lines: <c>1d2h3m4s</c>, <c>0s</c>.</summary>
public static class Durations
{
    public static string Format(TimeSpan t)
    {
        long s = Math.Max(0, (long)t.TotalSeconds);
        var sb = new StringBuilder();
        if (s >= 86400) { sb.Append(s / 86400).Append('d'); s %= 86400; }
        if (s >= 3600) { sb.Append(s / 3600).Append('h'); s %= 3600; }
        if (s >= 60) { sb.Append(s / 60).Append('m'); s %= 60; }
        if (s > 0 || sb.Length == 0) sb.Append(s).Append('s');
        return sb.ToString();
    }
}
