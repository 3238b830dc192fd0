using Smtpd.Queue;

namespace Smtpd.Scheduler;

/// <summary>What the scheduler knows of an envelope: enough to decide when, nothing of its content.</summary>
/// <param name="Quarantined">A milter quarantined it: held until released (the envelope file says so too).</param>
public sealed record SchedulerInfo(
    ulong Evpid,
    EnvelopeType Type,
    DateTimeOffset Creation,
    long Ttl,
    int Retry,
    DateTimeOffset? LastTry,
    bool Quarantined = false)
{
    public uint MessageId => QueueIds.MessageOf(Evpid);
    public DateTimeOffset ExpiresAt => Creation.AddSeconds(Ttl);

    public static SchedulerInfo From(Envelope e) =>
        new(e.Id, e.Type, e.CreationTime, e.Ttl, e.Retry, e.LastTry, e.Quarantine is not null);
}

/// <summary>What <see cref="ISchedulerBackend.Batch"/> hands out.</summary>
public enum BatchKind { None, Mda, Mta, Bounce, Expire }

/// <summary>
/// Envelopes to act on now, all of one message and one kind (so one session can take them
/// together), or <see cref="BatchKind.None"/> with the time until something is due (null: nothing queued).
/// </summary>
public sealed record SchedulerBatch(BatchKind Kind, IReadOnlyList<ulong> Envelopes, TimeSpan? Delay)
{
    public static SchedulerBatch Idle(TimeSpan? delay) => new(BatchKind.None, [], delay);
}
