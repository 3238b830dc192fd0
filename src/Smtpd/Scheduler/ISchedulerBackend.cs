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

    /// <summary>Number of committed envelopes known, in flight or waiting.</summary>
    int Count { get; }
}
