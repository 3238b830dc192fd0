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
/// <param name="Original">The whole original message, or its header (RET=HDRS, or too large: <see cref="OriginalIsWhole"/>).</param>
public sealed record BounceRequest(Envelope Envelope, string Error, string Original, string Action = "failed") : BounceMessage
{
    /// <summary>Whether <see cref="Original"/> is the whole message (then sent as message/rfc822).</summary>
    public bool OriginalIsWhole { get; init; }

    public bool IsFailure => Action == "failed";
}
