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
            {
                try { await bus.ProfileAsync("scheduler", message, () => { Handle(message); return Task.CompletedTask; }); }
                catch (Exception ex) when (message is IBusRequest)
                {
                    // An admin's request failed (its caller was told): the scheduler goes on.
                    log.Warn($"scheduler: unexpected error handling {message.GetType().Name}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                }
            }

            var batch = backend.Batch(time.GetUtcNow(), BatchMax);
            if (batch.Kind != BatchKind.None)
            {
                Dispatch(batch);
                continue;
            }

            var sleep = batch.Delay is { } d && d < MaxSleep ? d : MaxSleep;
            // The wait runs on the scheduler's clock (a linked source's CancelAfter would use the system's).
            using var timer = new CancellationTokenSource(sleep, time);
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
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
            case SchedulerDiscover m:
                // Only what the scheduler does not hold: one it knows may be in flight right now.
                foreach (var group in m.Envelopes.Where(e => backend.Envelopes(e.Evpid).Count == 0).GroupBy(e => e.MessageId))
                {
                    foreach (var info in group) backend.Insert(info);
                    int added = backend.Commit(group.Key);
                    bus.Stats.Increment(Stats.StatKeys.Envelope, added);
                    log.Info($"scheduler: discovered msgid={group.Key:x8} envelopes={added}");
                }
                break;
            case SchedulerCommit m:
                int n = backend.Commit(m.MsgId);
                bus.Stats.Decrement(Stats.StatKeys.EnvelopeIncoming, n);
                log.Debug($"scheduler: commit msgid={m.MsgId:x8} envelopes={n}");
                break;
            case SchedulerRollback m: bus.Stats.Decrement(Stats.StatKeys.EnvelopeIncoming, backend.Rollback(m.MsgId)); break;
            case SchedulerUpdate m:
                Landed(m.Info.Evpid);
                if (!backend.Update(m.Info, m.RetryAt)) RemovedInFlight(m.Info.Evpid);
                break;
            case SchedulerDefer m:
                foreach (var evpid in m.Evpids)
                {
                    Landed(evpid);
                    if (!backend.Defer(evpid, m.Until)) RemovedInFlight(evpid);
                }
                break;
            case SchedulerDelete m: backend.Delete(m.Evpid); Landed(m.Evpid); break;
            case SchedulerRetry m:
                foreach (var e in backend.Envelopes(m.Evpid))
                {
                    Landed(e.Info.Evpid);
                    if (!backend.Update(e.Info with { Retry = e.Info.Retry + 1, LastTry = time.GetUtcNow() })) RemovedInFlight(e.Info.Evpid);
                }
                break;
            case SchedulerSchedule m: m.Reply?.Answer(backend.Schedule(m.Id, time.GetUtcNow())); break;
            case SchedulerRemove m: Remove(m); break;
            case SchedulerSuspend m:
                m.Reply.Answer(m.Suspend ? backend.Suspend(m.Id) : backend.Resume(m.Id, time.GetUtcNow()));
                break;
            case SchedulerRelease m:
                // The queue writes the release first, the scheduler lets go after: nothing is handed
                // out while its file still says quarantined, and what smtpctl counts is on disk.
                IReadOnlyList<ulong> quarantined = m.Id == 0 && m.Resume ? [] : backend.Quarantined(m.Id);
                if (quarantined.Count > 0) bus.Post(new QueueRelease(quarantined, m));
                else m.Reply.Answer(m.Resume ? backend.Resume(m.Id, time.GetUtcNow()) : 0);
                break;
            case SchedulerReleased m: m.Request.Reply.Answer(Released(m.Evpids, m.Request)); break;
            case SchedulerList m: m.Reply.Answer(backend.Envelopes(m.Id)); break;
            case SchedulerSummary m: m.Reply.Answer(backend.Summary()); break;
        }
    }

    /// <summary>
    /// The queue has written <paramref name="evpids"/> without their quarantine: they are released
    /// (and, for a resume, the id's paused envelopes resumed). Counts the envelopes let go, once each.
    /// </summary>
    int Released(IReadOnlyList<ulong> evpids, SchedulerRelease request)
    {
        var heldBefore = backend.Envelopes(request.Id).Where(e => e.Suspended).Select(e => e.Info.Evpid).ToHashSet();
        int released = backend.Release(evpids);
        if (!request.Resume) return released;
        backend.Resume(request.Id, time.GetUtcNow());
        return backend.Envelopes(request.Id).Count(e => heldBefore.Contains(e.Info.Evpid) && !e.Suspended);
    }

    /// <summary>How long a remove waits for the MTA and MDA to note envelopes in flight as cancelled.</summary>
    static readonly TimeSpan CancelAckTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Envelopes waiting are forgotten and deleted now. Envelopes in flight are marked (their
    /// outcome is discarded when it comes back) and the MTA or MDA holding them is told to send
    /// nothing more for them; the reply waits until it has noted that, so that once smtpctl
    /// prints "removed" no new transaction or delivery starts for them.
    /// </summary>
    void Remove(SchedulerRemove m)
    {
        var removal = backend.Remove(m.Id);
        if (removal.Removed.Count > 0) bus.Post(new QueueRemove(removal.Removed));
        if (removal.InFlight.Count == 0) { m.Reply?.Answer(removal.Count); return; }

        // Relayed envelopes are in the MTA's hands; local ones and bounces in the MDA's.
        var relayed = removal.InFlight.Where(id => backend.Envelopes(id).FirstOrDefault()?.Info.Type == EnvelopeType.Mta).ToList();
        var local = removal.InFlight.Except(relayed).ToList();
        var acks = new List<Task<bool>>();
        if (relayed.Count > 0) acks.Add(bus.RequestAsync<bool>(r => new Mta.MtaCancel(relayed, r), CancelAckTimeout));
        if (local.Count > 0) acks.Add(bus.RequestAsync<bool>(r => new Mda.MdaCancel(local, r), CancelAckTimeout));
        log.Info($"info: scheduler: {removal.InFlight.Count} envelope(s) in flight marked for removal");
        // Answered once both have noted them, or failed, or the wait is over: the count stands either way.
        int count = removal.Count;
        _ = Task.WhenAll(acks).ContinueWith(t => { _ = t.Exception; m.Reply?.Answer(count); }, TaskScheduler.Default);
    }

    /// <summary>An envelope removed while in flight came back: the scheduler forgot it, the queue deletes it.</summary>
    void RemovedInFlight(ulong evpid) => bus.Post(new QueueRemove([evpid]));

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
