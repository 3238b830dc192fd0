using Smtpd.Config;
using Smtpd.Queue;

namespace Smtpd.Mda;

/// <summary>
/// The local delivery component (OpenSMTPD's mda.c): receives envelopes from the queue,
/// delivers each to its user's mailbox as its action says, logs a <c>delivery</c> line and
/// reports the outcome to the queue. Deliveries run concurrently, up to a limit in all and per
/// user, so that one slow mailbox cannot hold up everybody else's mail.
/// </summary>
public sealed class MdaProcess(Ruleset ruleset, SmtpdPaths paths, LocalUsers users, IQueueBackend queue, Bus bus, TimeProvider time, SmtpdLog log,
    Table.TableSet? tables = null)
{
    /// <summary>Deliveries running at once, in all and for one user (OpenSMTPD: 100 and 3... we keep it modest).</summary>
    public const int MaxDeliveries = 32, MaxDeliveriesPerUser = 4;

    readonly SemaphoreSlim _slots = new(MaxDeliveries);
    readonly Dictionary<string, SemaphoreSlim> _perUser = new(StringComparer.Ordinal);
    readonly MaildirDelivery _maildir = new();
    readonly MboxDelivery _mbox = new();

    public async Task RunAsync(CancellationToken ct)
    {
        var running = new List<Task>();
        var held = new List<Envelope>();
        bool paused = false;
        await foreach (var message in bus.Mda.Reader.ReadAllAsync(ct))
        {
            running.RemoveAll(t => t.IsCompleted);
            switch (message)
            {
                case MdaPause p:
                    paused = p.Paused;
                    log.Info($"info: mda {(paused ? "paused" : "resumed")}");
                    if (!paused) { foreach (var e in held) running.Add(DeliverAsync(e, ct)); held.Clear(); }
                    break;
                case MdaDeliver deliver when paused: held.Add(deliver.Envelope); break;
                case MdaDeliver deliver: running.Add(DeliverAsync(deliver.Envelope, ct)); break;
            }
        }
        await Task.WhenAll(running);
    }

    SemaphoreSlim UserSlot(string user)
    {
        lock (_perUser)
        {
            if (!_perUser.TryGetValue(user, out var slot)) _perUser[user] = slot = new SemaphoreSlim(MaxDeliveriesPerUser);
            return slot;
        }
    }

    async Task DeliverAsync(Envelope e, CancellationToken ct)
    {
        string userName = e.MdaUser ?? "";
        var userSlot = UserSlot(userName);
        try
        {
            await _slots.WaitAsync(ct);
            try
            {
                await userSlot.WaitAsync(ct);
                try
                {
                    var outcome = await TryDeliverAsync(e, ct);
                    Report(e, outcome);
                }
                finally { userSlot.Release(); }
            }
            finally { _slots.Release(); }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down: the envelope stays in the queue and is tried at the next start.
        }
    }

    async Task<Outcome> TryDeliverAsync(Envelope e, CancellationToken ct)
    {
        if (!ruleset.Actions.TryGetValue(e.Dispatcher, out var action))
            return Outcome.TempFail($"no action \"{e.Dispatcher}\" in the configuration");
        SystemUser? user;
        try
        {
            user = e.MdaUser is null ? null
                : action.UserbaseTable is { } userbase && e.MdaMethod is null && tables is not null ? Lookup.Userbase.Get(tables, userbase, e.MdaUser)
                : users.Get(e.MdaUser);
        }
        catch (Table.TableTempFailException ex) { return Outcome.TempFail(ex.Message); }
        if (user is null)
            return Outcome.PermFail($"550 5.1.1 user {e.MdaUser} unknown");

        string target;
        IMailboxDelivery delivery;
        switch (e.MdaMethod)
        {
            case "mda":
                target = e.MdaTarget ?? "";
                delivery = new CommandDelivery(target);
                goto deliver;
            case "file":
                target = e.MdaTarget ?? "";
                delivery = new FileDelivery(target);
                goto deliver;
        }
        switch (action.Method)
        {
            case DeliveryMethod.Lmtp:
                if (!FormatSpecifiers.TryExpand(action.Path ?? "", e, user, out target))
                    return Outcome.PermFail($"could not expand \"{action.Path}\"");
                delivery = new LmtpDelivery(target, action.LmtpRcptTo, ruleset.Hostname);
                break;
            case DeliveryMethod.Mda:
                if (!FormatSpecifiers.TryExpand(action.Path ?? "", e, user, out target))
                    return Outcome.PermFail($"could not expand \"{action.Path}\"");
                delivery = new CommandDelivery(target);
                break;
            case DeliveryMethod.Maildir:
                string template = action.Path ?? "~/Maildir";
                if (!FormatSpecifiers.TryExpand(template, e, user, out target))
                    return Outcome.PermFail($"could not expand \"{template}\"");
                delivery = _maildir;
                break;
            case DeliveryMethod.Mbox:
                target = Path.Combine(paths.MailSpool, user.Name);
                delivery = _mbox;
                break;
            default:
                // mda and lmtp come with the local delivery work; keep the mail meanwhile.
                return Outcome.TempFail($"delivery method {action.Method} is not available yet");
        }

        deliver:
        try
        {
            if (AlreadyDeliveredTo(e))
                return Outcome.PermFail($"554 5.4.6 Mail loop detected: message already delivered to {e.Dest} (Delivered-To)");
            return await delivery.DeliverAsync(new DeliveryRequest(() => queue.MessageReadStream(e.MessageId), e.Sender, e.Rcpt, e.Dest, user, target), ct);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Outcome.TempFail(ex.Message);
        }
    }

    /// <summary>
    /// Loop detection (OpenSMTPD's mda): a message that already carries a Delivered-To header for
    /// this recipient came back around (an alias or .forward loop through another host).
    /// </summary>
    bool AlreadyDeliveredTo(Envelope e)
    {
        using var message = queue.MessageReadStream(e.MessageId);
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
