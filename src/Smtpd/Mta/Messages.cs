using Smtpd.Queue;

namespace Smtpd.Mta;

/// <summary>Messages the relaying component receives.</summary>
public abstract record MtaMessage;

/// <summary>From the queue: relay these envelopes (one message) to their next hop.</summary>
public sealed record MtaTransfer(IReadOnlyList<Envelope> Envelopes) : MtaMessage;
/// <summary>Admin (<c>smtpctl pause|resume mta</c>): while paused, transfers handed here wait.</summary>
public sealed record MtaPause(bool Paused) : MtaMessage;
