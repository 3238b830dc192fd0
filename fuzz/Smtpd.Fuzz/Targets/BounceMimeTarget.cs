using System.Text;
using MimeKit;
using Smtpd.Bounce;
using Smtpd.Queue;
using Smtpd.Smtp;

namespace Smtpd.Fuzz;

/// <summary>
/// A delivery report for a fuzzed message. The input is seven lines, then the original message:
/// the envelope's sender, final recipient, error text, action, DSN RET, ENVID and ORCPT (an empty
/// line is "not set"; the envelope file they come from holds any text). As the queue and the bounce
/// component do: the original is read with <see cref="OriginalHeaders"/>, the report is built
/// only for a sender that <see cref="MailAddress.TryParse"/> accepts, and written with CRLF. The
/// report must then parse back as a multipart/report of three parts. The original is also parsed
/// with MimeKit as the DKIM signer does, where FormatException is MimeKit's documented refusal.
/// </summary>
public sealed class BounceMimeTarget : IFuzzTarget
{
    static readonly string[] Actions = ["failed", "delayed", "delivered", "relayed"];
    static readonly HashSet<string> StatusFields = new(StringComparer.OrdinalIgnoreCase)
    {
        "Original-Envelope-Id", "Reporting-MTA", "Arrival-Date",
        "Final-Recipient", "Original-Recipient", "Action", "Status", "Diagnostic-Code",
    };
    static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_750_000_000);

    public string Name => "bounce-mime";

    public void Run(byte[] input)
    {
        var fields = new string?[7];
        int offset = 0;
        for (int i = 0; i < fields.Length; i++)
        {
            int lf = Array.IndexOf(input, (byte)'\n', offset);
            int end = lf < 0 ? input.Length : lf;
            string field = Encoding.UTF8.GetString(input, offset, end - offset).TrimEnd('\r');
            fields[i] = field.Length == 0 ? null : field;
            offset = lf < 0 ? input.Length : lf + 1;
        }
        byte[] message = input[offset..];

        CheckOriginalParse(message);

        string sender = fields[0] ?? "";
        if (!MailAddress.TryParse(sender, allowNoDomain: false, out _)) return;
        var envelope = new Envelope
        {
            Id = 0x90fa32a23acab696,
            Dispatcher = "out",
            Type = EnvelopeType.Mta,
            Sender = sender,
            Rcpt = fields[1] ?? "bob@example.org",
            Dest = fields[1] ?? "bob@example.org",
            CreationTime = Now.AddDays(-1),
            Ttl = 4 * 86400,
            DsnRet = fields[4],
            DsnEnvid = fields[5],
            DsnOrcpt = fields[6],
        };
        string action = Actions.Contains(fields[3]) ? fields[3]! : "failed";

        (string Text, bool Whole) original;
        using (var stream = new MemoryStream(message, writable: false))
            original = OriginalHeaders.ForReport(stream, envelope.DsnRet);
        var request = new BounceRequest(envelope, fields[2] ?? "550 5.1.1 unknown user", original.Text, action) { OriginalIsWhole = original.Whole };
        var second = request with { Envelope = envelope with { Id = envelope.Id + 1, Dest = "carol@example.org" } };

        var report = DeliveryReport.Build("mx.example.org", [request, second], Now);
        // Random in real reports; fixed here, so that one input always takes the same paths.
        report.MessageId = "report@mx.example.org";
        ((Multipart)report.Body!).Boundary = "=-fuzz-boundary";
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        using var written = new MemoryStream();
        report.WriteTo(format, written);

        written.Position = 0;
        var parsed = MimeMessage.Load(written);
        if (parsed.Body is not MultipartReport { Count: 3 } multipart)
            throw new BrokenInvariantException($"the report parses back as {parsed.Body?.ContentType.MimeType}");
        // MimeKit reads the blank line that closes the last group as one more, empty group.
        if (multipart[1] is not MessageDeliveryStatus status || status.StatusGroups.Count(g => g.Count > 0) != 3)
            throw new BrokenInvariantException("the report's delivery-status part does not parse back as 3 groups");
        // Text from the envelope (error, ENVID, ORCPT) stays inside its field: no field of its own making.
        foreach (var header in status.StatusGroups.SelectMany(g => g))
            if (!StatusFields.Contains(header.Field))
                throw new BrokenInvariantException($"the delivery-status part has a field {header.Field} the report never writes");
        if (parsed.To.Mailboxes.Count() != 1)
            throw new BrokenInvariantException($"the report is addressed to {parsed.To.Count} mailboxes");
    }

    static void CheckOriginalParse(byte[] message)
    {
        try
        {
            using var stream = new MemoryStream(message, writable: false);
            MimeMessage.Load(stream);
        }
        catch (FormatException) { }
    }
}
