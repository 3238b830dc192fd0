using System.Text;
using MimeKit;

namespace Smtpd.Ctl;

/// <summary>
/// What sendmail does to a message's header before enqueueing: with -t, collects the To, Cc and
/// Bcc recipients and removes Bcc (its recipients must not see each other); adds From and Date
/// when the program that wrote the mail left them out (the daemon adds a missing Message-ID). The
/// body is left as it is.
/// </summary>
public static class Headers
{
    public static (byte[] Message, IReadOnlyList<string> Recipients) Prepare(byte[] raw, bool collect, string sender, string? fullName)
    {
        string text = Encoding.UTF8.GetString(raw).Replace("\r\n", "\n");
        int end = text.IndexOf("\n\n", StringComparison.Ordinal);
        string header = end < 0 ? text : text[..(end + 1)];
        string body = end < 0 ? "" : text[(end + 1)..];
        if (end < 0 && !LooksLikeHeader(header)) { body = "\n" + header; header = ""; }

        var fields = Unfold(header);
        var recipients = new List<string>();
        if (collect)
            foreach (var (_, value, _) in fields.Where(f => f.Name is "to" or "cc" or "bcc"))
                if (InternetAddressList.TryParse(value, out var list))
                    recipients.AddRange(list.Mailboxes.Select(m => m.Address));

        // From and Date go first, in that order, as OpenSMTPD's enqueue writes them; a missing
        // Message-ID is added by the daemon at the end of the header, as for any local submission.
        var kept = new StringBuilder();
        if (!fields.Any(f => f.Name == "from"))
            kept.Append($"From: {(fullName is null ? sender : new MailboxAddress(fullName, sender).ToString())}\n");
        if (!fields.Any(f => f.Name == "date"))
            kept.Append($"Date: {MimeKit.Utils.DateUtils.FormatDate(DateTimeOffset.Now)}\n");
        foreach (var (name, _, rawField) in fields.Select(f => (f.Name, f.Value, f.Raw)))
            if (name != "bcc") kept.Append(rawField);

        string message = kept + body;
        return (Encoding.UTF8.GetBytes(message.Replace("\n", "\r\n")), recipients);
    }

    static bool LooksLikeHeader(string text) => text.Length > 0 && text.Split('\n')[0].Contains(':');

    /// <summary>Header fields: lower-case name, unfolded value, and the raw lines (with continuations).</summary>
    static List<(string Name, string Value, string Raw)> Unfold(string header)
    {
        var fields = new List<(string, string, string)>();
        foreach (string line in header.Split('\n'))
        {
            if (line.Length == 0) continue;
            if ((line[0] == ' ' || line[0] == '\t') && fields.Count > 0)
            {
                var (n, v, r) = fields[^1];
                fields[^1] = (n, v + " " + line.Trim(), r + line + "\n");
                continue;
            }
            int colon = line.IndexOf(':');
            string name = colon > 0 ? line[..colon].Trim().ToLowerInvariant() : "";
            fields.Add((name, colon > 0 ? line[(colon + 1)..].Trim() : "", line + "\n"));
        }
        return fields;
    }
}
