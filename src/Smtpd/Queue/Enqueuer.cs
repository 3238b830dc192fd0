using Smtpd.Scheduler;
using Smtpd.Stats;

namespace Smtpd.Queue;

/// <summary>
/// The queue component's one way in for a new message, used by SMTP sessions and the bounce
/// component alike: create it, let the caller write (and fsync) its content, then commit it with
/// its envelopes and make them schedulable, or roll it back. It runs on the caller's task, so the
/// fsyncs of different messages run side by side (and the backend's group commit joins them);
/// the queue's loop never waits on it.
/// </summary>
public sealed partial class Enqueuer(IQueueBackend backend, Bus bus)
{
    /// <summary>A new incoming message, invisible until <see cref="CommitAsync"/>.</summary>
    public Task<uint> CreateAsync(CancellationToken ct = default) => backend.MessageCreateAsync(ct);

    /// <summary>Where the caller writes the message; the backend makes it durable at commit.</summary>
    public Stream WriteStream(uint msgid) => backend.MessageWriteStream(msgid);

    /// <summary>
    /// Writes the envelopes, commits the message, then has the scheduler take all its envelopes
    /// at once. When this returns, the message and its envelopes are on disk: the caller may say
    /// 250. On an exception nothing was committed and the caller rolls back.
    /// </summary>
    /// <remarks>Envelopes with a <see cref="Envelope.Quarantine"/> are held by the scheduler from the start.</remarks>
    public async Task CommitAsync(uint msgid, IReadOnlyList<Envelope> envelopes, CancellationToken ct = default)
    {
        foreach (var e in envelopes)
        {
            await backend.EnvelopeCreateAsync(e, ct);
            bus.Post(new SchedulerInsert(SchedulerInfo.From(e)));
        }
        await backend.MessageCommitAsync(msgid, ct);
        bus.Post(new SchedulerCommit(msgid));
        bus.Stats.Increment(StatKeys.EnvelopeEnqueued, envelopes.Count);
        bus.Stats.Increment(StatKeys.Envelope, envelopes.Count);
    }

    /// <summary>Drops a message not committed, and the envelopes the scheduler was given for it.</summary>
    /// <exception cref="IOException">The message's files could not be removed now.</exception>
    public async Task RollbackAsync(uint msgid)
    {
        bus.Post(new SchedulerRollback(msgid));
        await backend.MessageDeleteAsync(msgid);
    }
}
