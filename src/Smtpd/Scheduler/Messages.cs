using Smtpd.Queue;

namespace Smtpd.Scheduler;

/// <summary>Messages the scheduler receives.</summary>
public abstract record SchedulerMessage;

/// <summary>An envelope joins its message's changeset (invisible until commit).</summary>
public sealed record SchedulerInsert(SchedulerInfo Info) : SchedulerMessage;
/// <summary>The message is durable in the queue: all its envelopes become schedulable at once.</summary>
public sealed record SchedulerCommit(uint MsgId) : SchedulerMessage;
/// <summary>The message was not accepted: its changeset is dropped.</summary>
public sealed record SchedulerRollback(uint MsgId) : SchedulerMessage;
/// <summary>A temporary failure was recorded in the queue: try again later.</summary>
public sealed record SchedulerUpdate(SchedulerInfo Info) : SchedulerMessage;
/// <summary>The envelope is gone from the queue (delivered, failed, expired or removed).</summary>
public sealed record SchedulerDelete(ulong Evpid) : SchedulerMessage;
/// <summary>Admin: try now (an envelope id, or a message id in the top 32 bits).</summary>
public sealed record SchedulerSchedule(ulong Id) : SchedulerMessage;
