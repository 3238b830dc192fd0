using Smtpd.Config;
using Smtpd.Queue;

namespace Smtpd.Mda;

/// <summary>
/// The local delivery component (OpenSMTPD's mda.c): receives envelopes from the queue,
/// delivers each to its user's mailbox as its action says, logs a <c>delivery</c> line and
/// reports the outcome to the queue. Deliveries run concurrently, up to a limit in all and per
/// user, so that one slow mailbox cannot hold up everybody else's mail.
/// </summary>
/// <param name="config">The configuration in force: an envelope is delivered with the current definition of the action it names.</param>
public sealed class MdaProcess(Reload.LiveConfig config, SmtpdPaths paths, LocalUsers users, IQueueBackend queue, Bus bus, TimeProvider time, SmtpdLog log,
    DeliveryWorkerPool? workers = null)
{
    /// <summary>An mbox delivery process also gets the group that owns mail spools (Debian's /var/mail is root:mail 2775), for the dot-lock.</summary>
    readonly uint? mailGroup = Privsep.Posix.GroupId("mail");

    /// <summary>
    /// Deliveries running at once, in all and for one user: OpenSMTPD's mda.c limits (50 and 7).
    /// As root, a user's deliveries share one delivery process, so more at once costs no process;
    /// with 4 a burst for one user went no faster than 4 per delivery's round trip.
    /// </summary>
    public const int MaxDeliveries = 50, MaxDeliveriesPerUser = 7;

    /// <summary>
    /// Maildir deliveries of one user at once, counted apart from the user's others. A Maildir is
    /// made for writers side by side (a file of its own each, no lock), and each delivery spends
    /// most of its time waiting for its two flushes, which concurrent ones share: with 7, a burst
    /// of 20 sessions for one user was delivered 10-16 % slower than it was received (smtp-source
    /// -s 20, 4000 messages, five runs each; with 16 delivery kept up). Commands (procmail ...)
    /// keep OpenSMTPD's 7: each is a process of the user's.
    /// </summary>
    public const int MaxMaildirDeliveriesPerUser = 16;

    readonly SemaphoreSlim _slots = new(MaxDeliveries);
    /// <summary>Envelopes removed (<c>smtpctl remove</c>) while in flight here, and when the scheduler said so.</summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, DateTimeOffset> _cancelled = new();
    /// <summary>The delivery slots of each user, its Maildir ones apart (MaxMaildirDeliveriesPerUser).</summary>
    readonly Dictionary<(string User, bool Maildir), SemaphoreSlim> _perUser = [];
    /// <summary>Envelopes of each user in the MDA now (for the mda.user gauge); under the <see cref="_perUser"/> lock.</summary>
    readonly Dictionary<string, int> _envelopesOf = new(StringComparer.Ordinal);

    /// <summary>On shutdown, deliveries already running get this long to finish and be recorded (no duplicate at the next start).</summary>
    public static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(8);

    public async Task RunAsync(CancellationToken stop)
    {
        var running = new List<Task>();
        var held = new List<Envelope>();
        bool paused = false;
        using var drain = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        using var onStop = stop.Register(() => drain.CancelAfter(DrainTime));
        var ct = drain.Token;
        try
        {
            await foreach (var message in bus.Mda.Reader.ReadAllAsync(stop))
            {
            await bus.ChaosPauseAsync("mda", stop);
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            running.RemoveAll(t => t.IsCompleted);
            switch (message)
            {
                case MdaPause p:
                    paused = p.Paused;
                    log.Info($"info: mda {(paused ? "paused" : "resumed")}");
                    if (!paused) { foreach (var e in held) running.Add(DeliverAsync(e, stop, ct)); held.Clear(); }
                    break;
                case MdaCancel c:
                    try { NoteCancelled(c.Evpids); c.Noted.Answer(true); }
                    catch (Exception ex) { c.Noted.Fail(ex); throw; }
                    break;
                case MdaDeliver deliver when paused: held.Add(deliver.Envelope); break;
                case MdaDeliver deliver: running.Add(DeliverAsync(deliver.Envelope, stop, ct)); break;
            }
            bus.Profile("mda", message.GetType().Name, started);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        await Task.WhenAll(running);
    }

    void NoteCancelled(IReadOnlyList<ulong> evpids)
    {
        var now = time.GetUtcNow();
        foreach (var (id, at) in _cancelled)
            if (now - at > TimeSpan.FromHours(1)) _cancelled.TryRemove(id, out _);
        foreach (var id in evpids) _cancelled[id] = now;
    }

    SemaphoreSlim UserSlot(string user, bool maildir)
    {
        lock (_perUser)
        {
            if (!_perUser.TryGetValue((user, maildir), out var slot))
                _perUser[(user, maildir)] = slot = new SemaphoreSlim(maildir ? MaxMaildirDeliveriesPerUser : MaxDeliveriesPerUser);
            return slot;
        }
    }

    /// <summary>Whether the envelope goes to a Maildir (its action's method; a .forward's "|cmd" or file is not one).</summary>
    bool IsMaildir(Envelope e) =>
        e.MdaMethod is null && config.Action(e.Dispatcher) is var (action, _) && action.Method == DeliveryMethod.Maildir;

    /// <param name="stop">Shutdown: a delivery not started yet stays in the queue.</param>
    /// <param name="ct">The end of the drain after shutdown: a delivery under way is given up.</param>
    async Task DeliverAsync(Envelope e, CancellationToken stop, CancellationToken ct)
    {
        string userName = e.MdaUser ?? "";
        var userSlot = UserSlot(userName, IsMaildir(e));
        var stats = bus.Stats;
        CountEnvelope(userName, +1);
        stats.Increment(Stats.StatKeys.MdaPending);
        bool pending = true;
        try
        {
            await _slots.WaitAsync(stop);
            try
            {
                await userSlot.WaitAsync(stop);
                try
                {
                    // The last moment a removed envelope can be left out: nothing is written yet.
                    if (_cancelled.ContainsKey(e.Id)) { Cancel(e, "not delivered"); return; }
                    pending = false;
                    stats.Decrement(Stats.StatKeys.MdaPending);
                    stats.Increment(Stats.StatKeys.MdaRunning);
                    Outcome outcome;
                    try { outcome = await ChaosOutcomeAsync(ct) ?? await TryDeliverAsync(e, ct); }
                    catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
                    catch (Exception ex)
                    {
                        // Never a silent "inflight": logged, and tried again later.
                        log.Warn($"mda: unexpected error delivering {e.Id:x16}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                        outcome = Outcome.TempFail($"Internal error: {SystemErrors.Describe(ex)}");
                    }
                    finally { stats.Decrement(Stats.StatKeys.MdaRunning); }
                    if (!outcome.IsOk && _cancelled.ContainsKey(e.Id)) { Cancel(e, $"{outcome.ResultWord}: {outcome.Text}"); return; }
                    _cancelled.TryRemove(e.Id, out _);
                    Report(e, outcome);
                }
                finally { userSlot.Release(); }
            }
            finally { _slots.Release(); }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Shutting down: the envelope stays in the queue and is tried at the next start.
        }
        finally
        {
            if (pending) stats.Decrement(Stats.StatKeys.MdaPending);
            CountEnvelope(userName, -1);
        }
    }

    /// <summary>The mda.envelope and mda.user gauges (OpenSMTPD's mda.c counts the same).</summary>
    void CountEnvelope(string user, int delta)
    {
        bus.Stats.Increment(Stats.StatKeys.MdaEnvelope, delta);
        lock (_perUser)
        {
            int now = _envelopesOf.GetValueOrDefault(user) + delta;
            if (now == 0) { _envelopesOf.Remove(user); bus.Stats.Decrement(Stats.StatKeys.MdaUser); }
            else
            {
                if (now == delta) bus.Stats.Increment(Stats.StatKeys.MdaUser);
                _envelopesOf[user] = now;
            }
        }
    }

    /// <summary>Removed by an admin while here, and not delivered: the queue deletes it, no retry, no bounce.</summary>
    void Cancel(Envelope e, string outcome)
    {
        _cancelled.TryRemove(e.Id, out _);
        log.Info($"{e.Id:x16} mda cancelled evpid={e.Id:x16} to=<{e.Dest}> outcome=\"{outcome}\" (removed by smtpctl)");
        bus.Post(new QueueDeliveryCancelled(e, outcome));
    }

    /// <summary>Under chaos, a delivery may be slow or fail temporarily before it starts.</summary>
    async Task<Outcome?> ChaosOutcomeAsync(CancellationToken ct)
    {
        if (bus.Chaos is not { } monkey) return null;
        await monkey.PauseAsync("mda.deliver", ct);
        monkey.ThrowIfAsked("mda.deliver");
        return monkey.Fails("mda.deliver") ? Outcome.TempFail("chaos: injected delivery failure") : null;
    }

    async Task<Outcome> TryDeliverAsync(Envelope e, CancellationToken ct)
    {
        if (config.Action(e.Dispatcher) is not var (action, generation))
            return Outcome.TempFail($"no action \"{e.Dispatcher}\" in the configuration");
        var tables = generation.Tables;
        SystemUser? user;
        try
        {
            user = e.MdaUser is null ? null
                : action.UserbaseTable is { } userbase && e.MdaMethod is null ? await Lookup.Userbase.GetAsync(tables, userbase, e.MdaUser, ct)
                : users.Get(e.MdaUser);
        }
        catch (Table.TableTempFailException ex) { return Outcome.TempFail(ex.Message); }
        if (user is null)
            return Outcome.PermFail($"550 5.1.1 user {e.MdaUser} unknown");

        string? method = e.MdaMethod switch
        {
            "mda" => DeliveryJob.Mda,
            "file" => DeliveryJob.File,
            _ => action.Method switch
            {
                DeliveryMethod.Lmtp => DeliveryJob.Lmtp,
                DeliveryMethod.Mda => DeliveryJob.Mda,
                DeliveryMethod.Maildir => DeliveryJob.Maildir,
                DeliveryMethod.Mbox => DeliveryJob.Mbox,
                _ => null,
            },
        };
        if (method is null) return Outcome.TempFail($"delivery method {action.Method} is not available");

        string target;
        if (e.MdaMethod is "mda" or "file") target = e.MdaTarget ?? "";
        else if (method == DeliveryJob.Mbox) target = Path.Combine(paths.MailSpool, user.Name);
        else
        {
            string template = action.Path ?? (method == DeliveryJob.Maildir ? "~/Maildir" : "");
            if (!FormatSpecifiers.TryExpand(template, e, user, out target))
                return Outcome.PermFail($"could not expand \"{template}\"");
        }
        // "user NAME" on the action: deliver as that user (aliases' commands and files already chose theirs).
        SystemUser? runAs = null;
        if (action.User is { } actionUser && e.MdaMethod is null && (runAs = users.Get(actionUser)) is null)
            return Outcome.PermFail($"delivery user '{actionUser}' does not exist");
        var job = new DeliveryJob(method, target, action.LmtpRcptTo, e.Sender, e.Rcpt, e.Dest, user, runAs);

        Stream? opened = null;
        try
        {
            // The message is opened once: read for the loop check, then rewound for the delivery
            // (a compressed or encrypted one, which cannot seek, is opened again).
            opened = queue.MessageReadStream(e.MessageId);
            if (AlreadyDeliveredTo(e, opened))
                return Outcome.PermFail($"554 5.4.6 Mail loop detected: message already delivered to {e.Dest} (Delivered-To)");
            if (opened.CanSeek) opened.Position = 0;
            else { opened.Dispose(); opened = null; }
            Stream Open() => Interlocked.Exchange(ref opened, null) ?? queue.MessageReadStream(e.MessageId);
            if (workers is not null)
                return await workers.RunAsync(job, method == DeliveryJob.Mbox ? mailGroup : null, Open, ct);
            return await job.CreateDelivery().DeliverAsync(job.Request(Open), ct);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Outcome.TempFail(SystemErrors.Describe(ex));
        }
        finally { Interlocked.Exchange(ref opened, null)?.Dispose(); }
    }

    /// <summary>
    /// Loop detection (OpenSMTPD's mda): a message that already carries a Delivered-To header for
    /// this recipient came back around (an alias or .forward loop through another host).
    /// </summary>
    static bool AlreadyDeliveredTo(Envelope e, Stream message)
    {
        string headers = Bounce.OriginalHeaders.Read(message);
        foreach (string line in headers.Split("\r\n"))
            if (line.StartsWith("Delivered-To:", StringComparison.OrdinalIgnoreCase)
                && string.Equals(line[13..].Trim(), e.Dest, StringComparison.OrdinalIgnoreCase))
                return true;
        return false;
    }

    void Report(Envelope e, Outcome outcome)
    {
        var delay = time.GetUtcNow() - e.CreationTime;
        log.Info($"{e.Id:x16} mda delivery evpid={e.Id:x16} from=<{e.Sender}> to=<{e.Dest}> rcpt=<{e.Rcpt}> user={e.MdaUser} delay={Durations.Format(delay)} result={outcome.ResultWord} stat={outcome.Text}");
        bus.Post(outcome.Kind switch
        {
            OutcomeKind.Ok => new QueueDeliveryOk(e, outcome.Text),
            OutcomeKind.TempFail => new QueueDeliveryTempFail(e, outcome.Text),
            _ => (QueueMessage)new QueueDeliveryPermFail(e, outcome.Text),
        });
    }
}
