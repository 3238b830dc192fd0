namespace Smtpd.Queue;

/// <summary>Messages the queue receives.</summary>
public abstract record QueueMessage;

/// <summary>From the scheduler: load these envelopes (one message, one kind) and hand them out.</summary>
public sealed record QueueDeliver(EnvelopeType Type, IReadOnlyList<ulong> Evpids) : QueueMessage;
/// <summary>From the scheduler: this envelope's time in the queue is over.</summary>
public sealed record QueueExpire(ulong Evpid) : QueueMessage;
/// <summary>From Mda/Mta: delivered; remove it.</summary>
public sealed record QueueDeliveryOk(Envelope Envelope, string? Stat = null) : QueueMessage;
/// <summary>
/// From Mda/Mta: failed for now; record the try and the error, retry later (at the latest at
/// <paramref name="RetryAt"/> when given: the end of the route's penalty).
/// </summary>
public sealed record QueueDeliveryTempFail(Envelope Envelope, string Error, DateTimeOffset? RetryAt = null) : QueueMessage;
/// <summary>
/// From Mda/Mta: the envelope was removed by an admin while in flight and was not delivered
/// (not tried, or failed): delete it, with no retry and no bounce.
/// </summary>
public sealed record QueueDeliveryCancelled(Envelope Envelope, string Outcome) : QueueMessage;
/// <summary>From Mda/Mta: failed for good.</summary>
public sealed record QueueDeliveryPermFail(Envelope Envelope, string Error) : QueueMessage;
/// <summary>
/// The failure reports for these envelopes are in the queue (or can never be written): only now
/// are the failed envelopes removed, so that a crash before cannot lose the report.
/// </summary>
public sealed record QueueFailureReported(IReadOnlyList<Envelope> Envelopes) : QueueMessage;
/// <summary>Admin: delete these envelopes (the scheduler has forgotten them).</summary>
public sealed record QueueRemove(IReadOnlyList<ulong> Evpids) : QueueMessage;
/// <summary>
/// From the scheduler (<c>smtpctl release</c>): write these quarantined envelopes without their
/// quarantine, then hand <paramref name="Request"/> back to the scheduler with those written.
/// </summary>
public sealed record QueueRelease(IReadOnlyList<ulong> Evpids, Scheduler.SchedulerRelease Request) : QueueMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Request.Reply;
}
/// <summary>Admin: load these envelopes (missing ones are left out), for <c>smtpctl show queue</c>.</summary>
public sealed record QueueLoad(IReadOnlyList<ulong> Evpids, BusReply<IReadOnlyList<Envelope>> Reply) : QueueMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>Admin: the envelope file as stored, or null.</summary>
public sealed record QueueEnvelopeText(ulong Evpid, BusReply<string?> Reply) : QueueMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>Admin: the message as received (decompressed, decrypted), or null when it is not in the queue.</summary>
public sealed record QueueMessageOpen(uint MsgId, BusReply<Stream?> Reply) : QueueMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>
/// Admin (<c>smtpctl discover</c>): reads the envelope, or every envelope of the message when the
/// low 32 bits are 0, from the queue and hands them to the scheduler, which takes those it does
/// not know (files an admin put back). The reply: how many envelopes were read.
/// </summary>
public sealed record QueueDiscover(ulong Id, BusReply<int> Reply) : QueueMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
