using Smtpd.Queue;

namespace Smtpd.Mda;

/// <summary>Messages the local delivery component receives.</summary>
public abstract record MdaMessage;

/// <summary>From the queue: deliver this envelope locally.</summary>
public sealed record MdaDeliver(Envelope Envelope) : MdaMessage;
