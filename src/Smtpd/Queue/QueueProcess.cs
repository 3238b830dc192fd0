using Smtpd.Mda;
using Smtpd.Mta;
using Smtpd.Scheduler;
using Smtpd.Stats;

namespace Smtpd.Queue;

/// <summary>
/// The queue component: the only one that changes committed envelopes on disk. It feeds the
/// scheduler at start (the walk), loads envelopes the scheduler hands out and passes them to
/// Mda or Mta, and records their results (delete on success, update on temporary failure)
/// before telling the scheduler. New messages come in through <see cref="Enqueue"/>, on the
/// caller's task: each session or report touches only its own incoming message.
/// </summary>
public sealed class QueueProcess(IQueueBackend backend, Bus bus, TimeProvider time, SmtpdLog log, IReadOnlyList<TimeSpan>? warnIntervals = null)
{
    // OpenSMTPD's enhanced status class and codes (subject*10+detail) kept in an envelope.
    const byte EscTempFail = 4, EscOtherStatus = 0, EscOtherMailSystemStatus = 30;

    public IQueueBackend Backend => backend;

    /// <summary>The one way in for new messages (SMTP sessions, bounces).</summary>
    public Enqueuer Enqueue { get; } = new(backend, bus);

    /// <summary>Hands every committed envelope to the scheduler, one changeset per message.</summary>
    public async Task<int> LoadAsync(CancellationToken ct)
    {
        int count = 0;
        uint current = 0;
        await foreach (var e in backend.EnvelopeWalk((file, ex) => log.Warn($"queue: corrupt envelope {file} moved to corrupt/: {ex.Message}"), ct))
        {
            if (e.MessageId != current && current != 0) bus.Post(new SchedulerCommit(current));
            current = e.MessageId;
            bus.Post(new SchedulerInsert(SchedulerInfo.From(e)));
            bus.Stats.Increment(StatKeys.Envelope);
            count++;
        }
        if (current != 0) bus.Post(new SchedulerCommit(current));
        return count;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        await foreach (var message in bus.Queue.Reader.ReadAllAsync(ct))
        {
            try { await bus.ProfileAsync("queue", message, () => HandleAsync(message)); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                log.Warn($"queue: {message.GetType().Name}: {SystemErrors.Describe(ex)}");
            }
            catch (Exception ex)
            {
                // The queue's loop never dies on one message; envelopes it was handing out are retried.
                log.Warn($"queue: unexpected error handling {message.GetType().Name}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                if (message is QueueDeliver d) foreach (var evpid in d.Evpids) RetryLater(evpid);
            }
        }
    }

    async Task HandleAsync(QueueMessage message)
    {
        switch (message)
        {
            case QueueDeliver m: await DeliverAsync(m); break;
            case QueueExpire m: await ExpireAsync(m.Evpid); break;
            case QueueDeliveryOk m:
                if (m.Envelope.DsnNotify.HasFlag(DsnNotify.Success) && m.Envelope.Sender.Length > 0)
                    RequestReport(m.Envelope, m.Stat ?? "Delivered", m.Envelope.Type == EnvelopeType.Mta ? "relayed" : "delivered");
                await backend.EnvelopeDeleteAsync(m.Envelope.Id);
                bus.Post(new SchedulerDelete(m.Envelope.Id));
                Count(StatKeys.DeliveryOk);
                CountDelivery(m.Envelope, OutcomeKind.Ok);
                break;
            case QueueDeliveryTempFail m when m.Error.Contains(CorruptMessageException.Marker, StringComparison.Ordinal):
                log.Warn($"queue: message {m.Envelope.MessageId:x8} cannot be read ({m.Error}); moved to corrupt/");
                await backend.MessageCorruptAsync(m.Envelope.MessageId);
                bus.Post(new SchedulerDelete(m.Envelope.Id));
                bus.Post(new SchedulerRemove((ulong)m.Envelope.MessageId << 32));
                bus.Stats.Decrement(StatKeys.Envelope);
                break;
            case QueueDeliveryTempFail m:
                // As OpenSMTPD: class 4; code X.0.0 for a relay, X.3.0 (other mail system status) for a local delivery.
                var retried = m.Envelope with
                {
                    Retry = m.Envelope.Retry + 1, LastTry = time.GetUtcNow(), ErrorLine = m.Error,
                    EscClass = EscTempFail, EscCode = m.Envelope.Type == EnvelopeType.Mda ? EscOtherMailSystemStatus : EscOtherStatus,
                };
                if (DelayWarningDue(retried, time.GetUtcNow()))
                {
                    retried = retried with { LastBounce = time.GetUtcNow() };
                    if (retried.Sender.Length > 0 && (retried.DsnNotify == DsnNotify.None || retried.DsnNotify.HasFlag(DsnNotify.Delay)))
                        RequestReport(retried, m.Error, "delayed");
                }
                // If the update cannot be written, the file keeps the previous try: the retry still
                // happens (the scheduler must hear of it, or the envelope stays in flight for ever).
                try { await backend.EnvelopeUpdateAsync(retried); }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    log.Warn($"queue: envelope {retried.Id:x16}: cannot record the failed try: {SystemErrors.Describe(ex)}");
                }
                bus.Post(new SchedulerUpdate(SchedulerInfo.From(retried), m.RetryAt));
                bus.Stats.Increment(StatKeys.DeliveryTempFail);
                CountDelivery(m.Envelope, OutcomeKind.TempFail);
                break;
            case QueueDeliveryCancelled m:
                // Removed by smtpctl while in flight, and not delivered: no retry, no bounce. The
                // scheduler forgets it even if the file cannot be deleted now (a warning says so).
                try { await backend.EnvelopeDeleteAsync(m.Envelope.Id); }
                finally { bus.Post(new SchedulerDelete(m.Envelope.Id)); }
                log.Info($"{m.Envelope.Id:x16} queue remove evpid={m.Envelope.Id:x16} (by smtpctl, while in flight: {m.Outcome})");
                Count(StatKeys.EnvelopeRemoved);
                break;
            case QueueDeliveryPermFail m:
                // With a report to send, the envelope stays until the report is queued.
                if (!RequestBounce(m.Envelope, m.Error)) await DeleteAsync(m.Envelope);
                Count(StatKeys.DeliveryPermFail);
                CountDelivery(m.Envelope, OutcomeKind.PermFail);
                break;
            case QueueFailureReported m:
                foreach (var e in m.Envelopes) await DeleteAsync(e);
                break;
            case QueueRemove m:
                foreach (var evpid in m.Evpids)
                {
                    await backend.EnvelopeDeleteAsync(evpid);
                    log.Info($"{evpid:x16} queue remove evpid={evpid:x16} (by smtpctl)");
                    Count(StatKeys.EnvelopeRemoved);
                }
                break;
            case QueueRelease m:
                bus.Post(new SchedulerReleased(await ReleaseAsync(m.Evpids), m.Request));
                break;
            case QueueLoad m:
                var envelopes = new List<Envelope>();
                foreach (var evpid in m.Evpids)
                {
                    try { if (await backend.EnvelopeLoadAsync(evpid) is { } e) envelopes.Add(e); }
                    catch (FormatException) { }
                }
                m.Reply.Answer(envelopes);
                break;
            case QueueEnvelopeText m:
                try { m.Reply.Answer(await backend.EnvelopeLoadAsync(m.Evpid) is { } e ? EnvelopeText.Format(e) : null); }
                catch (FormatException ex) { m.Reply.Answer($"# corrupt envelope: {ex.Message}\n"); }
                break;
            case QueueDiscover m:
                m.Reply.Answer(await DiscoverAsync(m.Id));
                break;
            case QueueMessageOpen m:
                try { m.Reply.Answer(backend.MessageReadStream(m.MsgId)); }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { m.Reply.Answer(null); }
                break;
        }
    }

    /// <summary>
    /// <c>smtpctl release</c>: writes each envelope without its quarantine, so that the release
    /// survives a restart; returns those written (one that cannot be stays held, and the log says why).
    /// </summary>
    async Task<IReadOnlyList<ulong>> ReleaseAsync(IReadOnlyList<ulong> evpids)
    {
        var written = new List<ulong>();
        foreach (var evpid in evpids)
        {
            try
            {
                if (await backend.EnvelopeLoadAsync(evpid) is not { } e) continue;
                // Already written released (a release whose answer was lost): the scheduler catches up.
                if (e.Quarantine is { } reason)
                {
                    await backend.EnvelopeUpdateAsync(e with { Quarantine = null });
                    log.Info($"{evpid:x16} queue release evpid={evpid:x16} (by smtpctl) quarantine=\"{string.Concat(reason.Select(c => c < ' ' ? ' ' : c))}\"");
                }
                written.Add(evpid);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                log.Warn($"queue: envelope {evpid:x16} stays quarantined: cannot be written released: {SystemErrors.Describe(ex)}");
            }
        }
        return written;
    }

    /// <summary><c>smtpctl discover</c>: what is on disk for the id goes to the scheduler; returns how many envelopes were read.</summary>
    async Task<int> DiscoverAsync(ulong id)
    {
        var found = new List<Envelope>();
        if ((uint)id != 0)
        {
            try { if (await backend.EnvelopeLoadAsync(id) is { } e) found.Add(e); }
            catch (FormatException ex) { log.Warn($"queue: discover: cannot read envelope {id:x16}: {ex.Message}"); }
        }
        else
        {
            uint msgid = QueueIds.MessageOf(id);
            await foreach (var e in backend.EnvelopeWalk((file, ex) => log.Warn($"queue: corrupt envelope {file} moved to corrupt/: {ex.Message}")))
                if (e.MessageId == msgid) found.Add(e);
        }
        if (found.Count > 0) bus.Post(new SchedulerDiscover(found.Select(SchedulerInfo.From).ToList()));
        return found.Count;
    }

    async Task DeliverAsync(QueueDeliver m)
    {
        var loaded = new List<Envelope>();
        foreach (var evpid in m.Evpids)
        {
            Envelope? e;
            try { e = await backend.EnvelopeLoadAsync(evpid); }
            catch (FormatException ex)
            {
                log.Warn($"queue: envelope {evpid:x16} is corrupt, moved to corrupt/: {ex.Message}");
                try { await backend.EnvelopeCorruptAsync(evpid); }
                catch (Exception io) when (io is IOException or UnauthorizedAccessException) { log.Warn($"queue: envelope {evpid:x16} could not be set aside: {SystemErrors.Describe(io)}"); }
                e = null;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                log.Warn($"queue: envelope {evpid:x16} cannot be read now, retried later: {SystemErrors.Describe(ex)}");
                RetryLater(evpid);
                continue;
            }
            catch (Exception ex)
            {
                log.Warn($"queue: envelope {evpid:x16} cannot be loaded, retried later: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                RetryLater(evpid);
                continue;
            }
            if (e is null) { bus.Post(new SchedulerDelete(evpid)); continue; }
            loaded.Add(e);
        }
        if (loaded.Count == 0) return;
        if (m.Type == EnvelopeType.Mta) bus.Post(new MtaTransfer(loaded));
        else foreach (var e in loaded) bus.Post(new MdaDeliver(e));
    }

    /// <summary>How long an envelope that could not be read waits before the scheduler hears of it (so a failing disk is not read in a tight loop).</summary>
    public static readonly TimeSpan UnreadableRetryDelay = TimeSpan.FromSeconds(5);

    void RetryLater(ulong evpid) =>
        _ = Task.Delay(UnreadableRetryDelay, time).ContinueWith(_ => bus.Post(new SchedulerRetry(evpid)), TaskScheduler.Default);

    async Task ExpireAsync(ulong evpid)
    {
        Envelope? e;
        try { e = await backend.EnvelopeLoadAsync(evpid); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.Warn($"queue: envelope {evpid:x16} cannot be read to expire it, retried later: {SystemErrors.Describe(ex)}");
            RetryLater(evpid);
            return;
        }
        if (e is not null)
        {
            var delay = time.GetUtcNow() - e.CreationTime;
            string error = $"Envelope expired{(e.ErrorLine is null ? "" : ": " + e.ErrorLine)}";
            log.Info($"{evpid:x16} queue expire evpid={evpid:x16} from=<{e.Sender}> to=<{e.Dest}> delay={Durations.Format(delay)} result=PermFail stat=\"{error}\"");
            bool reported = RequestBounce(e, error);
            Count(StatKeys.EnvelopeExpired);
            if (reported) return; // removed once the report is queued
            await backend.EnvelopeDeleteAsync(evpid);
        }
        bus.Post(new SchedulerDelete(evpid));
    }

    /// <summary>
    /// Asks for a failure report to the sender, with the original headers read now, while the
    /// message still exists. A bounce (empty sender) that fails is dropped: never bounced.
    /// </summary>
    /// <returns>True when a report was asked for: the bounce component says when it is queued (<see cref="QueueFailureReported"/>).</returns>
    bool RequestBounce(Envelope e, string error)
    {
        if (e.Sender.Length == 0)
        {
            log.Info($"{e.Id:x16} queue bounce-dropped evpid={e.Id:x16} to=<{e.Dest}> error=\"{error}\" (a bounce is never bounced)");
            return false;
        }
        if (!e.WantsFailureReport)
        {
            log.Info($"{e.Id:x16} queue dsn evpid={e.Id:x16} no failure report (NOTIFY={e.DsnNotify})");
            return false;
        }
        RequestReport(e, error, "failed");
        bus.Stats.Increment(StatKeys.Bounce);
        return true;
    }

    async Task DeleteAsync(Envelope e)
    {
        await backend.EnvelopeDeleteAsync(e.Id);
        bus.Post(new SchedulerDelete(e.Id));
    }

    /// <summary>Reads what the report returns of the message (all of it, or its header for RET=HDRS) while it exists.</summary>
    void RequestReport(Envelope e, string text, string action)
    {
        (string Text, bool Whole) original;
        try
        {
            using var message = backend.MessageReadStream(e.MessageId);
            original = Bounce.OriginalHeaders.ForReport(message, e.DsnRet);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { original = ("", false); }
        bus.Post(new Bounce.BounceRequest(e, text, original.Text, action) { OriginalIsWhole = original.Whole });
    }

    /// <summary>
    /// <c>bounce warn-interval</c>: once an envelope has waited past one of the intervals (4 h by
    /// default), its sender is told it is delayed, once per interval (OpenSMTPD's queue.c).
    /// </summary>
    /// <summary>The intervals of the configuration in force (a reload may change them); null: those given at construction.</summary>
    public Func<IReadOnlyList<TimeSpan>>? WarnIntervals { get; init; }

    bool DelayWarningDue(Envelope e, DateTimeOffset now)
    {
        foreach (var interval in WarnIntervals?.Invoke() ?? warnIntervals ?? [])
        {
            var threshold = e.CreationTime + interval;
            if (now >= threshold && (e.LastBounce ?? DateTimeOffset.MinValue) < threshold) return true;
        }
        return false;
    }

    /// <summary>The metrics' transport of an envelope (mda, mta or lmtp); set by the daemon, which knows the actions.</summary>
    public Func<Envelope, string> TransportOf { get; init; } = e => e.Type == EnvelopeType.Mta ? "mta" : "mda";

    void CountDelivery(Envelope e, OutcomeKind result)
    {
        if (bus.Stats.KeepsLabelledEvents) bus.Stats.Delivery(TransportOf(e), result, time.GetUtcNow() - e.CreationTime);
    }

    /// <summary>An envelope left the queue for <paramref name="reason"/>.</summary>
    void Count(string reason)
    {
        bus.Stats.Increment(reason);
        bus.Stats.Increment(StatKeys.EnvelopeDequeued);
        bus.Stats.Decrement(StatKeys.Envelope);
    }
}
