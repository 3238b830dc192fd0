using Smtpd.Lookup;

namespace Smtpd.Smtp;

/// <summary>One mail transaction in a session: from MAIL FROM to the end of DATA or RSET.</summary>
public sealed class Transaction(MailAddress sender, IReadOnlyDictionary<string, string?> parameters)
{
    /// <summary>Set again only by a milter's change of sender at end of message.</summary>
    public MailAddress Sender { get; set; } = sender;
    /// <summary>MAIL FROM's parameters; a milter's change of sender may set RET and ENVID.</summary>
    public IReadOnlyDictionary<string, string?> Parameters { get; set; } = parameters;
    public List<TxRecipient> Recipients { get; } = [];

    /// <summary>Set once DATA created the message in the queue; cleared when committed.</summary>
    public uint? MessageId { get; set; }
}

/// <summary>An accepted recipient with its DSN parameters (RFC 3461 NOTIFY and ORCPT).</summary>
public sealed record TxRecipient(MailAddress Rcpt, RecipientDecision.Accept Decision, Queue.DsnNotify Notify = Queue.DsnNotify.None, string? Orcpt = null);
