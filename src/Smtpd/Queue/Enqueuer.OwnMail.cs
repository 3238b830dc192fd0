using MimeKit;
using Smtpd.Lookup;

namespace Smtpd.Queue;

// Mail smtpd writes itself (a bounce, a TLS report): from the null sender, to the local
// recipient's resolved deliveries, queued like any other message.
public sealed partial class Enqueuer
{
    /// <summary>
    /// The recipient's deliveries as the local enqueuer's session resolves them; empty when no rule
    /// takes them (<paramref name="refusal"/>: the rule's reason, if one refused).
    /// </summary>
    public static async Task<IReadOnlyList<RecipientDecision.Accept>> LocalDeliveriesAsync(Reload.ConfigGeneration generation,
        Smtp.MailAddress rcpt, CancellationToken ct, Action<string?>? refusal = null)
    {
        var decision = await generation.Recipients.ResolveAsync(new SessionInfo(null, true, null, null), rcpt, ct);
        switch (decision)
        {
            case RecipientDecision.Accept a: return [a];
            case RecipientDecision.Expanded x: return x.Deliveries;
            default:
                refusal?.Invoke((decision as RecipientDecision.Refuse)?.Reason);
                return [];
        }
    }

    /// <summary>
    /// Writes <paramref name="message"/> (CRLF line ends) as a new message from the null sender with
    /// one envelope per delivery of <paramref name="rcpt"/>, and commits it; on any failure what was
    /// written is rolled back and the exception goes to the caller.
    /// </summary>
    public async Task<(uint MsgId, IReadOnlyList<Envelope> Envelopes)> EnqueueGeneratedAsync(MimeMessage message, string rcpt,
        IReadOnlyList<RecipientDecision.Accept> deliveries, Config.Ruleset ruleset, DateTimeOffset now, CancellationToken ct)
    {
        uint msgid = await CreateAsync(ct);
        try
        {
            await using (var stream = WriteStream(msgid))
            {
                var format = FormatOptions.Default.Clone();
                format.NewLineFormat = NewLineFormat.Dos;
                await message.WriteToAsync(format, stream, ct);
            }
            var envelopes = deliveries.Select(accept => new Envelope
            {
                Id = QueueIds.NewEnvelopeId(msgid),
                Dispatcher = accept.Action.Name,
                Type = accept.Action.IsLocal ? EnvelopeType.Mda : EnvelopeType.Mta,
                SmtpName = ruleset.Hostname,
                Helo = ruleset.Hostname,
                Hostname = "localhost",
                SockAddr = "local",
                Sender = "",
                Rcpt = rcpt,
                Dest = accept.Dest,
                MdaUser = accept.MdaUser,
                MdaSubaddress = accept.Subaddress,
                MdaMethod = accept.MdaMethod,
                MdaTarget = accept.MdaTarget,
                CreationTime = now,
                Ttl = (long)(accept.Action.Ttl ?? ruleset.Expire).TotalSeconds,
            }).ToList();
            await CommitAsync(msgid, envelopes, ct);
            return (msgid, envelopes);
        }
        catch
        {
            try { await RollbackAsync(msgid); } catch (IOException) { }
            throw;
        }
    }
}
