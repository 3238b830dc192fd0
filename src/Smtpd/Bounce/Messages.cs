using Smtpd.Queue;

namespace Smtpd.Bounce;

/// <summary>Messages the bounce component receives.</summary>
public abstract record BounceMessage;

/// <summary>
/// An envelope failed for good (or expired): its sender must be told. The original message's
/// headers travel with the request, because the message itself may be gone by the time the
/// report is written.
/// </summary>
/// <param name="Action">RFC 3464's Action: "failed", "delayed", or with NOTIFY=SUCCESS "delivered" / "relayed".</param>
/// <param name="Original">The original's header, or the whole message when the sender asked RET=FULL.</param>
public sealed record BounceRequest(Envelope Envelope, string Error, string Original, string Action = "failed") : BounceMessage
{
    public bool IsFailure => Action == "failed";
}
