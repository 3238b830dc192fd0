using Smtpd.Queue;

namespace Smtpd.Scheduler;

/// <summary>Messages the scheduler receives.</summary>
public abstract record SchedulerMessage;

/// <summary>An envelope joins its message's changeset (invisible until commit).</summary>
public sealed record SchedulerInsert(SchedulerInfo Info) : SchedulerMessage;
/// <summary>The message is durable in the queue: all its envelopes become schedulable at once
/// (those a milter quarantined, <see cref="SchedulerInfo.Quarantined"/>, are held from the start).</summary>
public sealed record SchedulerCommit(uint MsgId) : SchedulerMessage;
/// <summary>The message was not accepted: its changeset is dropped.</summary>
public sealed record SchedulerRollback(uint MsgId) : SchedulerMessage;
/// <summary>
/// A temporary failure was recorded in the queue: try again later, at the next back-off slot or
/// at <paramref name="RetryAt"/> when that is sooner (the end of the route's penalty, from the MTA).
/// </summary>
public sealed record SchedulerUpdate(SchedulerInfo Info, DateTimeOffset? RetryAt = null) : SchedulerMessage;
/// <summary>
/// From the MTA: these envelopes were not tried (their route is penalized): pending again until
/// <paramref name="Until"/>, with no try counted and nothing written.
/// </summary>
public sealed record SchedulerDefer(IReadOnlyList<ulong> Evpids, DateTimeOffset Until) : SchedulerMessage;
/// <summary>
/// The queue could not hand the envelope out (its file could not be read now): it is tried
/// again later, as after a temporary failure, instead of staying in flight for ever.
/// </summary>
public sealed record SchedulerRetry(ulong Evpid) : SchedulerMessage;
/// <summary>The envelope is gone from the queue (delivered, failed, expired or removed).</summary>
public sealed record SchedulerDelete(ulong Evpid) : SchedulerMessage;
/// <summary>Admin: try now (0 for all, a message id in the top 32 bits, or an envelope id); replies how many.</summary>
public sealed record SchedulerSchedule(ulong Id, BusReply<int>? Reply = null) : SchedulerMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>
/// Admin: remove from the queue; the scheduler forgets them and has the queue delete their files.
/// Envelopes in flight are marked, and the MTA or MDA holding them is told before the reply.
/// </summary>
public sealed record SchedulerRemove(ulong Id, BusReply<int>? Reply = null) : SchedulerMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>Admin: pause (suspend) or resume envelopes.</summary>
public sealed record SchedulerSuspend(ulong Id, bool Suspend, BusReply<int> Reply) : SchedulerMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>
/// Admin (<c>smtpctl release</c>, and <c>resume envelope</c> with <paramref name="Resume"/>): the
/// quarantined envelopes the id names are released once the queue has written them without their
/// quarantine; with <paramref name="Resume"/>, an admin's pause is lifted too. Replies how many
/// envelopes were let go (released, or resumed, or both).
/// </summary>
public sealed record SchedulerRelease(ulong Id, bool Resume, BusReply<int> Reply) : SchedulerMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>From the queue: these envelopes are written without their quarantine; the release goes on.</summary>
public sealed record SchedulerReleased(IReadOnlyList<ulong> Evpids, SchedulerRelease Request) : SchedulerMessage;
/// <summary>Admin: the envelopes an id names, with their state.</summary>
public sealed record SchedulerList(ulong Id, BusReply<IReadOnlyList<ScheduledEnvelope>> Reply) : SchedulerMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>The counts by state and the oldest envelope, for the metrics.</summary>
public sealed record SchedulerSummary(BusReply<QueueSummary> Reply) : SchedulerMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>From the queue (<c>smtpctl discover</c>): envelopes read back from disk; those not known yet are committed.</summary>
public sealed record SchedulerDiscover(IReadOnlyList<SchedulerInfo> Envelopes) : SchedulerMessage;
