using Smtpd.Queue;

namespace Smtpd.Mda;

/// <summary>Messages the local delivery component receives.</summary>
public abstract record MdaMessage;

/// <summary>From the queue: deliver this envelope locally.</summary>
public sealed record MdaDeliver(Envelope Envelope) : MdaMessage;
/// <summary>Admin (<c>smtpctl pause|resume mda</c>): while paused, deliveries handed here wait.</summary>
public sealed record MdaPause(bool Paused) : MdaMessage;
