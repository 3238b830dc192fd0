using System.Text.Json.Serialization;

namespace Smtpd.Mda;

/// <summary>
/// One local delivery, fully decided (method, mailbox, identity): what the Mda hands to a
/// delivery process running as the recipient, or runs itself when smtpd is not root.
/// </summary>
public sealed record DeliveryJob(string Method, string Target, bool LmtpRcptTo,
    string Sender, string Recipient, string Dest, SystemUser User, SystemUser? RunAs = null)
{
    /// <summary>Whose identity the delivery runs with: the action's <c>user</c>, else the recipient.</summary>
    [JsonIgnore] public SystemUser Identity => RunAs ?? User;

    public const string Maildir = "maildir", Mbox = "mbox", Mda = "mda", File = "file", Lmtp = "lmtp";

    public IMailboxDelivery CreateDelivery() => Method switch
    {
        Maildir => new MaildirDelivery(),
        Mbox => new MboxDelivery(),
        Mda => new CommandDelivery(Target),
        File => new FileDelivery(Target),
        Lmtp => new LmtpDelivery(Target, LmtpRcptTo),
        _ => throw new InvalidOperationException($"unknown delivery method {Method}"),
    };

    /// <summary>The request for the delivery code, which writes as (and owns files for) <see cref="Identity"/>.</summary>
    public DeliveryRequest Request(Func<Stream> openMessage) => new(openMessage, Sender, Recipient, Dest, Identity, Target);
}

/// <summary>What a delivery process answers for one job.</summary>
public sealed record DeliveryResult(OutcomeKind Kind, string Text);

[JsonSerializable(typeof(DeliveryJob))]
[JsonSerializable(typeof(DeliveryResult))]
internal partial class DeliveryJson : JsonSerializerContext;
