using Smtpd.Filter.Milter;

namespace Smtpd.Smtp;

// A milter's envelope changes at end of message (SMFIR_CHGFROM, ADDRCPT, DELRCPT), applied to the
// transaction just before its envelopes are built, so that they are committed with the message.
public sealed partial class SmtpSession
{
    /// <summary>Applies the changes to the transaction; a reply when the message must not be committed (no recipient is left).</summary>
    async Task<Reply?> ApplyMilterChangesAsync(MilterEnvelopeChanges changes)
    {
        if (changes.IsEmpty) return null;
        var tx = _tx!;
        if (changes.Sender is var (from, senderParameters))
        {
            // Only the address is taken (Postfix's cleanup ignores these parameters too, with a warning).
            if (senderParameters.Count > 0)
                _ctx.Log.Info($"{Id:x16} smtp milter: ignored the ESMTP parameters of a change of sender: {Printable(string.Join(" ", senderParameters))}");
            if (from.Length == 0) tx.Sender = MailAddress.Null;
            else if (MailAddress.TryParse(from, allowNoDomain: false, out var sender)) tx.Sender = sender;
            else _ctx.Log.Warn($"{Id:x16} smtp milter: ignored change of sender to <{Printable(from)}>: not an address");
        }
        foreach (var deleted in changes.DeletedRecipients)
            tx.Recipients.RemoveAll(r => r.Rcpt.ToString().Equals(deleted, StringComparison.OrdinalIgnoreCase));
        foreach (var (address, parameters) in changes.AddedRecipients)
        {
            if (parameters.Count > 0)
                _ctx.Log.Info($"{Id:x16} smtp milter: ignored the ESMTP parameters of an added recipient: {Printable(string.Join(" ", parameters))}");
            // An added recipient goes through the rules as one given in RCPT would.
            if (!MailAddress.TryParse(address, allowNoDomain: false, out var rcpt))
            {
                _ctx.Log.Warn($"{Id:x16} smtp milter: ignored added recipient <{Printable(address)}>: not an address");
                continue;
            }
            switch (await _ctx.Recipients.ResolveAsync(Info, rcpt, _shutdown))
            {
                case Lookup.RecipientDecision.Accept accept: tx.Recipients.Add(new TxRecipient(rcpt, accept)); break;
                case Lookup.RecipientDecision.Expanded expanded:
                    foreach (var delivery in expanded.Deliveries) tx.Recipients.Add(new TxRecipient(rcpt, delivery));
                    break;
                case Lookup.RecipientDecision.Refuse refuse:
                    _ctx.Log.Warn($"{Id:x16} smtp milter: ignored added recipient <{rcpt}>: {refuse.Reason}");
                    break;
            }
        }
        if (tx.Recipients.Count > 0) return null;
        // Every recipient was taken away: the milter meant the message to go nowhere, as a discard does.
        _ctx.Log.Info($"{Id:x16} smtp message msgid={tx.MessageId:x8} has no recipient left after the milters: not queued");
        uint msgid = tx.MessageId!.Value;
        await AbortTransactionAsync();
        return Replies.Accepted(msgid);
    }
}
