using System.Text;
using MimeKit;
using Smtpd.Queue;

namespace Smtpd.Bounce;

/// <summary>
/// A delivery status notification (RFC 3464): multipart/report with a human-readable part in
/// OpenSMTPD's words, a message/delivery-status part with one block per failed recipient, and
/// the original message (message/rfc822), or its header (text/rfc822-headers) when the sender
/// asked RET=HDRS or the message is large. Sent from MAILER-DAEMON with an empty envelope
/// sender, under the name the message was received under (its envelope's smtpname).
/// </summary>
public static class DeliveryReport
{
    /// <param name="hostname">The configured hostname, for an envelope that records no smtpname.</param>
    public static MimeMessage Build(string hostname, IReadOnlyList<BounceRequest> failures, DateTimeOffset now)
    {
        var first = failures[0].Envelope;
        if (first.SmtpName.Length > 0) hostname = first.SmtpName;
        var report = new MimeMessage();
        report.From.Add(new MailboxAddress("Mailer Daemon", $"MAILER-DAEMON@{hostname}"));
        // To the sender as BounceProcess checked it, a source route dropped: MimeKit refuses one (found by fuzzing).
        report.To.Add(MailboxAddress.Parse(Smtp.MailAddress.TryParse(first.Sender, allowNoDomain: false, out var sender) ? sender.ToString() : first.Sender));
        bool failure = failures[0].IsFailure;
        bool delayed = failures[0].Action == "delayed";
        // OpenSMTPD names the report by its Action: failed, delayed, delivered or relayed.
        report.Subject = $"Delivery status notification: {failures[0].Action}";
        report.Date = now;
        report.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(hostname);
        report.Headers.Add("Auto-Submitted", "auto-replied"); // RFC 3834: no auto-reply loops

        var human = new StringBuilder();
        human.Append("Hi!\n\nThis is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n");
        human.Append(failure
            ? "An error has occurred while attempting to deliver a message for\nthe following list of recipients:\n\n"
            : delayed ? "Delivery of your message to these recipients has been delayed; no action is required\non your part: delivery attempts will continue until the message expires.\n\n"
            : "Your message was successfully delivered to these recipients:\n\n");
        foreach (var f in failures) human.Append($"{f.Envelope.Dest}: {f.Error}\n\n");
        bool full = failures[0].OriginalIsWhole;
        human.Append(full ? "Below is a copy of the original message:\n" : "Below is a copy of the original message headers:\n");

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", $"dns; {hostname}" },
            { "Arrival-Date", MimeKit.Utils.DateUtils.FormatDate(first.CreationTime) },
        };
        if (first.DsnEnvid is { } envid) perMessage.Insert(0, StatusField("Original-Envelope-Id", Smtp.Dsn.DecodeXtext(envid)));
        status.StatusGroups.Add(perMessage);
        foreach (var f in failures)
        {
            status.StatusGroups.Add(new HeaderList
            {
                StatusField("Final-Recipient", $"rfc822; {f.Envelope.Dest}"),
                StatusField("Original-Recipient", f.Envelope.DsnOrcpt is { } orcpt ? Smtp.Dsn.DecodeXtext(orcpt) : $"rfc822; {f.Envelope.Rcpt}"),
                { "Action", f.Action },
                { "Status", f.IsFailure ? StatusCode(f.Error) : f.Action == "delayed" ? TransientCode(f.Error) : "2.0.0" },
                StatusField("Diagnostic-Code", $"smtp; {f.Error}"),
            });
        }

        var headers = new MimePart(full ? "message" : "text", full ? "rfc822" : "rfc822-headers")
        {
            Content = new MimeContent(new MemoryStream(Encoding.Latin1.GetBytes(failures[0].Original))), // the stored bytes (OriginalHeaders)
            ContentTransferEncoding = ContentEncoding.EightBit,
        };

        var multipart = new MultipartReport("delivery-status")
        {
            new TextPart("plain") { Text = human.ToString() },
            status,
            headers,
        };
        report.Body = multipart;
        return report;
    }

    /// <summary>
    /// A delivery-status field whose value comes from outside (an envelope, a remote reply), written
    /// as printable ASCII and folded by us. Control characters become '?': a reply or a decoded
    /// xtext may hold NUL or CR LF, which MimeKit read back as fields of their own. Other
    /// characters become RFC 6533's \x{HHHH}: left to MimeKit, text holding "=?" and non-ASCII
    /// was made into encoded words and folded inside one, so that a line began with no space and
    /// read back as another field (both found by fuzzing).
    /// </summary>
    static Header StatusField(string name, string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (var rune in value.EnumerateRunes())
            if (rune.Value is < 0x20 or 0x7f) text.Append('?');
            else if (rune.Value < 0x80) text.Append((char)rune.Value);
            else text.Append($"\\x{{{rune.Value:X4}}}");
        var header = new Header(name, "");
        header.SetRawValue(Encoding.ASCII.GetBytes(Fold(text.ToString(), name.Length + 1)));
        return header;
    }

    /// <summary>
    /// " value\n", folded at spaces before 78 columns where it can be; a run of more than 900
    /// characters without a space is broken by force, so no line passes SMTP's 998.
    /// </summary>
    static string Fold(string value, int column)
    {
        const int Width = 78, Longest = 900;
        var folded = new StringBuilder(value.Length + 16);
        bool lineHasWord = false;
        foreach (var word in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            for (int start = 0; start < word.Length; start += Longest)
            {
                string piece = word.Substring(start, Math.Min(Longest, word.Length - start));
                if (lineHasWord && column + 1 + piece.Length > Width)
                {
                    folded.Append('\n');
                    column = 0;
                }
                folded.Append(' ').Append(piece);
                column += 1 + piece.Length;
                lineHasWord = true;
            }
        return folded.Append('\n').ToString();
    }

    /// <summary>The 4.x.x code of a delay ("451 4.3.0 ..."), else 4.0.0.</summary>
    public static string TransientCode(string error)
    {
        foreach (string word in error.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(3))
        {
            var parts = word.Split('.');
            if (parts.Length == 3 && parts[0] == "4" && parts.All(p => p.Length > 0 && p.All(char.IsAsciiDigit))) return word;
        }
        return "4.0.0";
    }

    /// <summary>The enhanced status code of the failure text ("550 5.1.1 ..."), else a generic permanent one.</summary>
    public static string StatusCode(string error)
    {
        foreach (string word in error.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(3))
        {
            var parts = word.Split('.');
            if (parts.Length == 3 && parts[0] is "4" or "5" && parts.All(p => p.Length > 0 && p.All(char.IsAsciiDigit)))
                return parts[0] == "4" ? "5" + word[1..] : word; // the failure is final now
        }
        return "5.0.0";
    }
}
