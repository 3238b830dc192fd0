using Smtpd.Queue;

namespace Smtpd.Bounce;

/// <summary>Messages the bounce component receives.</summary>
public abstract record BounceMessage;

/// <summary>
/// An envelope failed for good (or expired): its sender must be told. The original message's
/// headers travel with the request, because the message itself may be gone by the time the
/// report is written.
/// </summary>
public sealed record BounceRequest(Envelope Envelope, string Error, string OriginalHeaders) : BounceMessage;
