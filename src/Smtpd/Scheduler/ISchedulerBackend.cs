namespace Smtpd.Scheduler;

/// <summary>
/// Decides when each envelope is tried (OpenSMTPD's scheduler_backend). Holds no durable state:
/// it is rebuilt from the queue at start.
/// Contract:
/// - <see cref="Insert"/> adds an envelope to its message's changeset; it is invisible to
///   <see cref="Batch"/> until <see cref="Commit"/>, and <see cref="Rollback"/> leaves no trace.
/// - An envelope handed out by <see cref="Batch"/> is in flight and not handed out again until
///   <see cref="Update"/> (temporary failure: tried again later) or <see cref="Delete"/> (done).
/// </summary>
public interface ISchedulerBackend
{
    void Insert(SchedulerInfo info);
    int Commit(uint msgid);
    int Rollback(uint msgid);

    /// <summary>After a temporary failure: the envelope (with its new retry count) waits again.</summary>
    void Update(SchedulerInfo info);

    /// <summary>The envelope was delivered, failed for good or was removed: forget it.</summary>
    void Delete(ulong evpid);

    SchedulerBatch Batch(DateTimeOffset now, int max);

    /// <summary>Makes an envelope (or all of a message's when the low 32 bits are 0) due now.</summary>
    int Schedule(ulong id, DateTimeOffset now);

    /// <summary>Admin: forgets envelopes that are not in flight (0 = all, message id, envelope id); returns them.</summary>
    IReadOnlyList<ulong> Remove(ulong id);
    /// <summary>Admin: pending envelopes are held until resumed.</summary>
    int Suspend(ulong id);
    int Resume(ulong id, DateTimeOffset now);
    /// <summary>The message ids that have committed envelopes.</summary>
    IReadOnlyList<uint> Messages();

    /// <summary>Admin: what is known of the envelopes an id names, for <c>smtpctl show queue</c>.</summary>
    IReadOnlyList<ScheduledEnvelope> Envelopes(ulong id);

    /// <summary>Number of committed envelopes known, in flight or waiting.</summary>
    int Count { get; }
}

/// <summary>An envelope as the scheduler sees it: "pending", "inflight" or "suspend", and when it is due.</summary>
public sealed record ScheduledEnvelope(SchedulerInfo Info, string State, DateTimeOffset Due);
