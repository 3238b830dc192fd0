using System.Text.RegularExpressions;

namespace Smtpd.Tests.SideBySide;

/// <summary>A server's log lines as an administrator's tools read them: the event and its key=value fields, with ids, sizes and delays blanked.</summary>
public static partial class LogLines
{
    /// <summary>The SMTP session lines (connected, failed-command, message, envelope, disconnected) of a stretch of log, in order.</summary>
    public static List<string> Smtp(string log, params string[] dirs) =>
        log.Split('\n')
            .Select(l => SessionLine().Match(l))
            .Where(m => m.Success)
            .Select(m => Size().Replace(Normalise.Text(m.Groups[1].Value, dirs), "size=<n>"))
            .ToList();

    /// <summary>A line without its reply text (result="…"), which the dialogue compares by itself.</summary>
    public static string Shape(string line) => Result().Replace(line, "result=<reply>");

    [GeneratedRegex("result=\"[^\"]*\"")]
    private static partial Regex Result();
    [GeneratedRegex(@"^[0-9a-f]{16} (smtp \S.*)$")]
    private static partial Regex SessionLine();
    [GeneratedRegex(@"size=\d+")]
    private static partial Regex Size();
}
