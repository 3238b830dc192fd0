using Smtpd.Queue;

namespace Smtpd.Scheduler;

/// <summary>
/// The scheduler component: owns the <see cref="ISchedulerBackend"/>, receives inserts, commits
/// and delivery results, and hands due envelopes to the queue, which loads and dispatches them.
/// Holds nothing durable; the queue walk rebuilds it at start.
/// </summary>
public sealed class SchedulerProcess(ISchedulerBackend backend, Bus bus, TimeProvider time, SmtpdLog log)
{
    /// <summary>At most this many envelopes of one message go out in one batch.</summary>
    const int BatchMax = 100;
    /// <summary>Wake up at least this often, so that a clock jump cannot stall the queue.</summary>
    static readonly TimeSpan MaxSleep = TimeSpan.FromSeconds(30);

    public int Count => backend.Count;

    /// <summary>Envelopes handed out and not reported back yet (the scheduler.envelope.inflight gauge).</summary>
    readonly HashSet<ulong> _inflight = [];

    public async Task RunAsync(CancellationToken ct)
    {
        var reader = bus.Scheduler.Reader;
        while (!ct.IsCancellationRequested)
        {
            while (reader.TryRead(out var message))
                await bus.ProfileAsync("scheduler", message, () => { Handle(message); return Task.CompletedTask; });

            var batch = backend.Batch(time.GetUtcNow(), BatchMax);
            if (batch.Kind != BatchKind.None)
            {
                Dispatch(batch);
                continue;
            }

            var sleep = batch.Delay is { } d && d < MaxSleep ? d : MaxSleep;
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wake.CancelAfter(sleep);
            try { await reader.WaitToReadAsync(wake.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
        }
    }

    void Handle(SchedulerMessage message)
    {
        switch (message)
        {
            case SchedulerInsert m:
                backend.Insert(m.Info);
                bus.Stats.Increment(Stats.StatKeys.EnvelopeIncoming);
                break;
            case SchedulerCommit m:
                int n = backend.Commit(m.MsgId);
                bus.Stats.Decrement(Stats.StatKeys.EnvelopeIncoming, n);
                log.Debug($"scheduler: commit msgid={m.MsgId:x8} envelopes={n}");
                break;
            case SchedulerRollback m: bus.Stats.Decrement(Stats.StatKeys.EnvelopeIncoming, backend.Rollback(m.MsgId)); break;
            case SchedulerUpdate m: backend.Update(m.Info); Landed(m.Info.Evpid); break;
            case SchedulerDelete m: backend.Delete(m.Evpid); Landed(m.Evpid); break;
            case SchedulerRetry m:
                foreach (var e in backend.Envelopes(m.Evpid))
                {
                    backend.Update(e.Info with { Retry = e.Info.Retry + 1, LastTry = time.GetUtcNow() });
                    Landed(e.Info.Evpid);
                }
                break;
            case SchedulerSchedule m: m.Reply?.TrySetResult(backend.Schedule(m.Id, time.GetUtcNow())); break;
            case SchedulerRemove m:
                var removed = backend.Remove(m.Id);
                if (removed.Count > 0) bus.Post(new QueueRemove(removed));
                m.Reply.TrySetResult(removed.Count);
                break;
            case SchedulerSuspend m:
                m.Reply.TrySetResult(m.Suspend ? backend.Suspend(m.Id) : backend.Resume(m.Id, time.GetUtcNow()));
                break;
            case SchedulerList m: m.Reply.TrySetResult(backend.Envelopes(m.Id)); break;
        }
    }

    void Landed(ulong evpid)
    {
        if (_inflight.Remove(evpid)) bus.Stats.Decrement(Stats.StatKeys.EnvelopeInflight);
    }

    void Dispatch(SchedulerBatch batch)
    {
        foreach (var evpid in batch.Envelopes)
            if (_inflight.Add(evpid)) bus.Stats.Increment(Stats.StatKeys.EnvelopeInflight);
        switch (batch.Kind)
        {
            case BatchKind.Expire:
                foreach (var evpid in batch.Envelopes) bus.Post(new QueueExpire(evpid));
                break;
            case BatchKind.Mda: bus.Post(new QueueDeliver(EnvelopeType.Mda, batch.Envelopes)); break;
            case BatchKind.Mta: bus.Post(new QueueDeliver(EnvelopeType.Mta, batch.Envelopes)); break;
            case BatchKind.Bounce: bus.Post(new QueueDeliver(EnvelopeType.Bounce, batch.Envelopes)); break;
        }
    }
}
