namespace Smtpd.Scheduler;

/// <summary>
/// Decides when each envelope is tried (OpenSMTPD's scheduler_backend). Holds no durable state:
/// it is rebuilt from the queue at start.
/// Contract:
/// - <see cref="Insert"/> adds an envelope to its message's changeset; it is invisible to
///   <see cref="Batch"/> until <see cref="Commit"/>, and <see cref="Rollback"/> leaves no trace.
/// - An envelope handed out by <see cref="Batch"/> is in flight and not handed out again until
///   <see cref="Update"/> or <see cref="Defer"/> (tried again later) or <see cref="Delete"/> (done).
/// - Admin verbs reach every envelope in every state: one in flight that is removed or paused
///   is marked, and the mark takes effect when its outcome comes back (as OpenSMTPD's ramqueue).
/// </summary>
public interface ISchedulerBackend
{
    void Insert(SchedulerInfo info);
    int Commit(uint msgid);
    int Rollback(uint msgid);

    /// <summary>
    /// After a temporary failure: the envelope (with its new retry count) waits again, until its
    /// next back-off slot or <paramref name="retryAt"/> when that is sooner (a route's penalty).
    /// </summary>
    /// <returns>False when the envelope was removed while in flight: it is forgotten, its files are to be deleted.</returns>
    bool Update(SchedulerInfo info, DateTimeOffset? retryAt = null);

    /// <summary>Handed back untried (its route waits): pending again until <paramref name="until"/>, no try counted.</summary>
    /// <returns>False when the envelope was removed while in flight (forgotten, as for <see cref="Update"/>).</returns>
    bool Defer(ulong evpid, DateTimeOffset until);

    /// <summary>The envelope was delivered, failed for good or was removed: forget it.</summary>
    void Delete(ulong evpid);

    SchedulerBatch Batch(DateTimeOffset now, int max);

    /// <summary>Makes an envelope (or all of a message's when the low 32 bits are 0) due now; not those in flight.</summary>
    int Schedule(ulong id, DateTimeOffset now);

    /// <summary>
    /// Admin: removes envelopes (0 = all, message id, envelope id). Those not in flight are
    /// forgotten at once; those in flight are marked, and forgotten when their outcome comes back.
    /// </summary>
    SchedulerRemoval Remove(ulong id);
    /// <summary>Admin: envelopes are held until resumed (one in flight once it comes back).</summary>
    int Suspend(ulong id);
    /// <summary>Lifts an admin's pause; a quarantined envelope stays held (only <see cref="Release"/> lifts that).</summary>
    int Resume(ulong id, DateTimeOffset now);
    /// <summary>The quarantined envelopes an id names (0 = all), those removed in flight left out.</summary>
    IReadOnlyList<ulong> Quarantined(ulong id);
    /// <summary>
    /// Lifts the quarantine of these envelopes, once the queue has written them without it; one
    /// also paused by an admin stays paused. Returns how many were quarantined.
    /// </summary>
    int Release(IReadOnlyList<ulong> evpids);
    /// <summary>The message ids that have committed envelopes.</summary>
    IReadOnlyList<uint> Messages();

    /// <summary>Admin: what is known of the envelopes an id names, for <c>smtpctl show queue</c>.</summary>
    IReadOnlyList<ScheduledEnvelope> Envelopes(ulong id);

    /// <summary>
    /// The counts by state and the oldest envelope's creation, for the metrics scraped every few
    /// seconds: computed in place, without the per-envelope records of <see cref="Envelopes"/>.
    /// </summary>
    QueueSummary Summary();

    /// <summary>Number of committed envelopes known, in flight or waiting.</summary>
    int Count { get; }
}

/// <summary>The queue at a glance: envelopes by state (removed ones not counted) and the oldest creation (null: empty).</summary>
public readonly record struct QueueSummary(int Pending, int InFlight, int Suspended, DateTimeOffset? Oldest);

/// <summary>
/// An envelope as the scheduler sees it: "pending" (Due: when it is next tried) or "inflight"
/// (Due: when it was handed out), held or not (<paramref name="Suspended"/>: paused by an admin or
/// quarantined, which <c>Info.Quarantined</c> tells apart), and whether a remove waits for it to come back.
/// </summary>
public sealed record ScheduledEnvelope(SchedulerInfo Info, string State, DateTimeOffset Due, bool Suspended = false, bool Removed = false);

/// <summary>What an admin remove did: envelopes forgotten now, and envelopes in flight marked for removal.</summary>
public sealed record SchedulerRemoval(IReadOnlyList<ulong> Removed, IReadOnlyList<ulong> InFlight)
{
    public static readonly SchedulerRemoval None = new([], []);
    public int Count => Removed.Count + InFlight.Count;
}
