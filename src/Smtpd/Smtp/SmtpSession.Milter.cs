using Smtpd.Filter.Milter;

namespace Smtpd.Smtp;

// A milter's envelope changes at end of message (SMFIR_CHGFROM, ADDRCPT, ADDRCPT_PAR, DELRCPT), applied to the
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
            if (from.Length == 0) tx.Sender = MailAddress.Null;
            else if (MailAddress.TryParse(from, allowNoDomain: false, out var sender)) tx.Sender = sender;
            else _ctx.Log.Warn($"{Id:x16} smtp milter: ignored change of sender to <{Printable(from)}>: not an address");
            // Its ESMTP parameters as MAIL FROM's would be (sendmail applies them; Postfix's cleanup
            // ignores them): RET and ENVID replace the client's, SIZE and BODY say nothing new.
            var parameters = new Dictionary<string, string?>(tx.Parameters, StringComparer.OrdinalIgnoreCase);
            foreach (var (key, value) in MilterParameters(senderParameters))
            {
                bool valid = key.ToUpperInvariant() switch
                {
                    "RET" => Dsn.IsValidRet(value),
                    "ENVID" => Dsn.IsValidEnvid(value),
                    "SIZE" or "BODY" or "AUTH" => true,
                    _ => false,
                };
                if (!valid) { IgnoredMilterParameter("change of sender", key, value); continue; }
                if (key.ToUpperInvariant() is "RET" or "ENVID") parameters[key.ToUpperInvariant()] = value;
            }
            tx.Parameters = parameters;
        }
        foreach (var deleted in changes.DeletedRecipients)
            tx.Recipients.RemoveAll(r => r.Rcpt.ToString().Equals(deleted, StringComparison.OrdinalIgnoreCase));
        foreach (var (address, parameters) in changes.AddedRecipients)
        {
            // NOTIFY and ORCPT as RCPT TO's would have them (SMFIR_ADDRCPT_PAR).
            var notify = Queue.DsnNotify.None;
            string? orcpt = null;
            foreach (var (key, value) in MilterParameters(parameters))
            {
                if (key.Equals("NOTIFY", StringComparison.OrdinalIgnoreCase) && Dsn.TryParseNotify(value, out var n)) notify = n;
                else if (key.Equals("ORCPT", StringComparison.OrdinalIgnoreCase) && Dsn.IsValidOrcpt(value)) orcpt = value;
                else IgnoredMilterParameter("added recipient", key, value);
            }
            // An added recipient goes through the rules as one given in RCPT would.
            if (!MailAddress.TryParse(address, allowNoDomain: false, out var rcpt))
            {
                _ctx.Log.Warn($"{Id:x16} smtp milter: ignored added recipient <{Printable(address)}>: not an address");
                continue;
            }
            switch (await _ctx.Recipients.ResolveAsync(Info, rcpt, _shutdown))
            {
                case Lookup.RecipientDecision.Accept accept: tx.Recipients.Add(new TxRecipient(rcpt, accept, notify, orcpt)); break;
                case Lookup.RecipientDecision.Expanded expanded:
                    foreach (var delivery in expanded.Deliveries) tx.Recipients.Add(new TxRecipient(rcpt, delivery, notify, orcpt));
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

    /// <summary>A milter's ESMTP arguments ("KEY=VALUE" or "KEY", one per string, or several in one separated by spaces).</summary>
    static IEnumerable<(string Key, string? Value)> MilterParameters(IReadOnlyList<string> arguments)
    {
        foreach (string argument in arguments)
            foreach (string word in argument.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = word.IndexOf('=');
                yield return eq < 0 ? (word, null) : (word[..eq], word[(eq + 1)..]);
            }
    }

    void IgnoredMilterParameter(string what, string key, string? value) =>
        _ctx.Log.Warn($"{Id:x16} smtp milter: ignored an ESMTP parameter of a {what}: {Printable(value is null ? key : key + "=" + value)}");
}
