using Smtpd.Queue;

namespace Smtpd.Scheduler;

/// <summary>
/// The default scheduler backend (OpenSMTPD's ramqueue): every envelope in memory, ordered by
/// the time it is next due. Inserted envelopes wait in a per-message changeset until commit, so
/// that all recipients of a message become due together and one session can carry them all.
/// Not thread-safe: owned by <see cref="SchedulerProcess"/>'s loop.
/// </summary>
public sealed class RamScheduler : ISchedulerBackend
{
    enum State { Pending, InFlight }

    sealed class Entry(SchedulerInfo info)
    {
        public SchedulerInfo Info = info;
        public State State;
        /// <summary>Pending: when it is next tried. In flight: when it was handed out.</summary>
        public DateTimeOffset Due;
        /// <summary>Paused by an admin: not handed out until resumed (one in flight: once back).</summary>
        public bool Suspended;
        /// <summary>Removed by an admin while in flight: forgotten when its outcome comes back.</summary>
        public bool Removed;
        /// <summary>In flight to be expired: a remove has nothing left to do (OpenSMTPD's RQ_ENVELOPE_EXPIRED).</summary>
        public bool Expiring;
        /// <summary>Not handed out: paused by an admin or quarantined by a milter (two holds, lifted apart).</summary>
        public bool Held => Suspended || Info.Quarantined;
    }

    readonly Dictionary<uint, List<SchedulerInfo>> _changesets = new();
    readonly Dictionary<ulong, Entry> _envelopes = new();
    readonly Dictionary<uint, HashSet<ulong>> _byMessage = new();
    // Lazy deletion: an item is stale when its entry is gone, in flight, or due at another time.
    readonly PriorityQueue<ulong, DateTimeOffset> _due = new();

    public int Count => _envelopes.Count;

    public void Insert(SchedulerInfo info)
    {
        if (!_changesets.TryGetValue(info.MessageId, out var set))
            _changesets[info.MessageId] = set = [];
        set.Add(info);
    }

    public int Commit(uint msgid)
    {
        if (!_changesets.Remove(msgid, out var set)) return 0;
        foreach (var info in set)
        {
            var entry = new Entry(info) { Due = NextTry(info) };
            _envelopes[info.Evpid] = entry;
            if (!_byMessage.TryGetValue(msgid, out var ids)) _byMessage[msgid] = ids = [];
            ids.Add(info.Evpid);
            _due.Enqueue(info.Evpid, entry.Due);
        }
        return set.Count;
    }

    public int Rollback(uint msgid) => _changesets.Remove(msgid, out var set) ? set.Count : 0;

    public bool Update(SchedulerInfo info, DateTimeOffset? retryAt = null)
    {
        if (!_envelopes.TryGetValue(info.Evpid, out var entry)) return true;
        if (entry.Removed) { Delete(info.Evpid); return false; }
        entry.Info = info;
        var next = NextTry(info);
        Requeue(entry, retryAt is { } hint && hint < next ? hint : next);
        return true;
    }

    public bool Defer(ulong evpid, DateTimeOffset until)
    {
        if (!_envelopes.TryGetValue(evpid, out var entry)) return true;
        if (entry.Removed) { Delete(evpid); return false; }
        Requeue(entry, until < entry.Info.ExpiresAt ? until : entry.Info.ExpiresAt);
        return true;
    }

    /// <summary>Back from flight: pending until <paramref name="due"/> (a paused one stays out of the due queue).</summary>
    void Requeue(Entry entry, DateTimeOffset due)
    {
        entry.State = State.Pending;
        entry.Expiring = false;
        entry.Due = due;
        if (!entry.Held) _due.Enqueue(entry.Info.Evpid, due);
    }

    public void Delete(ulong evpid)
    {
        if (!_envelopes.Remove(evpid)) return;
        uint msgid = QueueIds.MessageOf(evpid);
        if (_byMessage.TryGetValue(msgid, out var ids) && ids.Remove(evpid) && ids.Count == 0)
            _byMessage.Remove(msgid);
    }

    public SchedulerBatch Batch(DateTimeOffset now, int max)
    {
        while (_due.TryPeek(out ulong evpid, out DateTimeOffset due))
        {
            if (!_envelopes.TryGetValue(evpid, out var entry) || entry.State != State.Pending || entry.Held || entry.Due != due)
            {
                _due.Dequeue();
                continue;
            }
            if (due > now) return SchedulerBatch.Idle(due - now);

            if (entry.Info.ExpiresAt <= now)
            {
                _due.Dequeue();
                entry.State = State.InFlight;
                entry.Expiring = true;
                entry.Due = now;
                return new SchedulerBatch(BatchKind.Expire, [evpid], null);
            }
            return TakeMessage(entry, now, max);
        }
        return SchedulerBatch.Idle(null);
    }

    /// <summary>Hands out every due envelope of the same message and type as <paramref name="first"/>.</summary>
    SchedulerBatch TakeMessage(Entry first, DateTimeOffset now, int max)
    {
        var taken = new List<ulong>();
        foreach (ulong id in _byMessage[first.Info.MessageId])
        {
            var e = _envelopes[id];
            if (taken.Count >= max) break;
            if (e.State != State.Pending || e.Held || e.Due > now || e.Info.Type != first.Info.Type || e.Info.ExpiresAt <= now) continue;
            e.State = State.InFlight;
            e.Due = now;
            taken.Add(id);
        }
        var kind = first.Info.Type switch
        {
            EnvelopeType.Mda => BatchKind.Mda,
            EnvelopeType.Mta => BatchKind.Mta,
            _ => BatchKind.Bounce,
        };
        return new SchedulerBatch(kind, taken, null);
    }

    /// <summary>The envelopes an admin id names: 0 for all, a message id (low 32 bits 0), or one envelope.</summary>
    IEnumerable<ulong> Select(ulong id) =>
        id == 0 ? _envelopes.Keys.ToArray()
        : (id & 0xffffffff) == 0 ? _byMessage.GetValueOrDefault(QueueIds.MessageOf(id))?.ToArray() ?? []
        : [id];

    public int Schedule(ulong id, DateTimeOffset now)
    {
        var ids = Select(id);
        int n = 0;
        foreach (var evpid in ids)
        {
            if (!_envelopes.TryGetValue(evpid, out var e) || e.State != State.Pending) continue;
            e.Due = now;
            // A held envelope is made due now too, and goes when resumed (or released).
            if (!e.Held) _due.Enqueue(evpid, now);
            n++;
        }
        return n;
    }

    public SchedulerRemoval Remove(ulong id)
    {
        List<ulong> removed = [], inFlight = [];
        foreach (var evpid in Select(id))
        {
            if (!_envelopes.TryGetValue(evpid, out var e) || e.Removed || e.Expiring) continue;
            if (e.State == State.InFlight)
            {
                // Its outcome, when it comes back, is discarded (OpenSMTPD's RQ_ENVELOPE_REMOVED).
                e.Removed = true;
                inFlight.Add(evpid);
                continue;
            }
            Delete(evpid);
            removed.Add(evpid);
        }
        return new SchedulerRemoval(removed, inFlight);
    }

    public int Suspend(ulong id)
    {
        int n = 0;
        foreach (var evpid in Select(id))
            if (_envelopes.TryGetValue(evpid, out var e) && !e.Suspended && !e.Removed) { e.Suspended = true; n++; }
        return n;
    }

    public int Resume(ulong id, DateTimeOffset now)
    {
        int n = 0;
        foreach (var evpid in Select(id))
        {
            if (!_envelopes.TryGetValue(evpid, out var e) || !e.Suspended) continue;
            e.Suspended = false;
            if (e.State == State.Pending && !e.Held) _due.Enqueue(evpid, e.Due);
            n++;
        }
        return n;
    }

    public IReadOnlyList<ulong> Quarantined(ulong id) =>
        [.. Select(id).Where(evpid => _envelopes.TryGetValue(evpid, out var e) && e.Info.Quarantined && !e.Removed).Order()];

    public int Release(IReadOnlyList<ulong> evpids)
    {
        int n = 0;
        foreach (var evpid in evpids)
        {
            if (!_envelopes.TryGetValue(evpid, out var e) || !e.Info.Quarantined) continue;
            e.Info = e.Info with { Quarantined = false };
            if (e.State == State.Pending && !e.Held) _due.Enqueue(evpid, e.Due);
            n++;
        }
        return n;
    }

    public IReadOnlyList<uint> Messages() => [.. _byMessage.Keys.Order()];

    public IReadOnlyList<ScheduledEnvelope> Envelopes(ulong id) =>
        Select(id).Where(_envelopes.ContainsKey).Select(evpid =>
        {
            var e = _envelopes[evpid];
            return new ScheduledEnvelope(e.Info, e.State == State.InFlight ? "inflight" : "pending", e.Due, e.Held, e.Removed);
        }).OrderBy(e => e.Info.Evpid).ToList();

    public QueueSummary Summary()
    {
        int pending = 0, inFlight = 0, suspended = 0;
        DateTimeOffset? oldest = null;
        foreach (var e in _envelopes.Values)
        {
            if (e.Removed) continue; // gone for the admin, whatever its attempt still does
            if (e.State == State.InFlight) inFlight++;
            else if (e.Held) suspended++;
            else pending++;
            if (oldest is null || e.Info.Creation < oldest) oldest = e.Info.Creation;
        }
        return new QueueSummary(pending, inFlight, suspended, oldest);
    }

    /// <summary>The next try, but never later than expiry: an envelope expires on time.</summary>
    static DateTimeOffset NextTry(SchedulerInfo info)
    {
        var next = info.Retry == 0 || info.LastTry is null ? info.Creation
            : RetryDelay.NextTry(info.Type, info.Creation, info.LastTry.Value);
        return next < info.ExpiresAt ? next : info.ExpiresAt;
    }
}
