using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.SideBySide;

/// <summary>A delivered message split as a reader sees it: its header fields in order and its body, with dates, ids and host names normalised.</summary>
public sealed record Delivered(string Raw, IReadOnlyList<(string Name, string Value)> Headers, string Body)
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public string? Header(string name) => Headers.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>The header names in order, lower-cased (the order is what a reader sees first).</summary>
    public string HeaderNames => string.Join(",", Headers.Select(h => h.Name.ToLowerInvariant()));

    public static Delivered Parse(string raw, params string[] dirs)
    {
        string text = Normalise.Text(raw, dirs);
        int split = text.IndexOf("\n\n", StringComparison.Ordinal);
        string head = split < 0 ? text : text[..split];
        string body = split < 0 ? "" : text[(split + 2)..];
        var headers = new List<(string, string)>();
        foreach (var line in head.Split('\n'))
        {
            if (line.Length == 0) continue;
            if ((line[0] == ' ' || line[0] == '\t') && headers.Count > 0)
                headers[^1] = (headers[^1].Item1, headers[^1].Item2 + " " + line.Trim());
            else if (line.IndexOf(':') is var colon and > 0)
                headers.Add((line[..colon], line[(colon + 1)..].Trim()));
        }
        return new Delivered(raw, headers, body);
    }

    /// <summary>The messages in <c>{Maildirs}/user/new</c> once <paramref name="count"/> are there (bounded wait), oldest first.</summary>
    public static async Task<List<Delivered>> MaildirAsync(ISideServer server, string user, int count, string? maildir = null)
    {
        maildir ??= Path.Combine(server.Maildirs, user);
        var files = await Mailboxes.WaitForMaildirAsync(maildir, count, Timeout);
        return files.OrderBy(File.GetLastWriteTimeUtc).Select(f => Parse(File.ReadAllText(f), server.Dir)).ToList();
    }
}
