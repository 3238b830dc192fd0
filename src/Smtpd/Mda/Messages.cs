using Smtpd.Queue;

namespace Smtpd.Mda;

/// <summary>Messages the local delivery component receives.</summary>
public abstract record MdaMessage;

/// <summary>From the queue: deliver this envelope locally.</summary>
public sealed record MdaDeliver(Envelope Envelope) : MdaMessage;
/// <summary>Admin (<c>smtpctl pause|resume mda</c>): while paused, deliveries handed here wait.</summary>
public sealed record MdaPause(bool Paused) : MdaMessage;
/// <summary>
/// From the scheduler (<c>smtpctl remove</c>): these envelopes in flight were removed; a delivery
/// not started is not made, and what comes back for them is discarded. <paramref name="Noted"/>
/// is set once the MDA has noted them.
/// </summary>
public sealed record MdaCancel(IReadOnlyList<ulong> Evpids, BusReply<bool> Noted) : MdaMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Noted;
}
