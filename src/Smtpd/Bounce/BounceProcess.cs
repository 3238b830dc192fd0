using MimeKit;
using Smtpd.Config;
using Smtpd.Lookup;
using Smtpd.Queue;
using Smtpd.Smtp;

namespace Smtpd.Bounce;

/// <summary>
/// The bounce component (OpenSMTPD's bounce.c): failures of the same message for the same
/// sender that come close together are grouped into one report, written after a short delay
/// (seed 000). The report is a new message with an empty sender, routed by the ruleset like
/// local mail and put into the queue like any other; being a bounce, it is never bounced.
/// </summary>
/// <param name="config">Reports are routed by the configuration in force when they are made.</param>
public sealed class BounceProcess(Reload.LiveConfig config, Enqueuer queue, Bus bus, TimeProvider time, SmtpdLog log)
{
    public static readonly TimeSpan GroupDelay = TimeSpan.FromSeconds(2);

    readonly Dictionary<(uint MessageId, string Sender, string Action), List<BounceRequest>> _pending = [];

    sealed record Flush(uint MessageId, string Sender, string Action) : BounceMessage;
    /// <summary>A report the queue could not take (full disk): it is tried again.</summary>
    sealed record Retry(List<BounceRequest> Failures) : BounceMessage;

    /// <summary>How long a report that could not be queued waits before the next try.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(30);

    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var message in bus.Bounce.Reader.ReadAllAsync(ct))
            {
                await bus.ChaosPauseAsync("bounce", ct);
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                switch (message)
                {
                    case BounceRequest r:
                        var key = (r.Envelope.MessageId, r.Envelope.Sender.ToLowerInvariant(), r.Action == "failed" || r.Action == "delayed" ? r.Action : "success");
                        if (!_pending.TryGetValue(key, out var list))
                        {
                            _pending[key] = list = [];
                            _ = Task.Delay(GroupDelay, time, ct).ContinueWith(_ => bus.Post(new Flush(key.MessageId, key.Item2, key.Item3)), TaskScheduler.Default);
                        }
                        list.Add(r);
                        break;
                    case Flush f when _pending.Remove((f.MessageId, f.Sender, f.Action), out var failures):
                        await EnqueueAsync(failures, ct);
                        break;
                    case Retry r:
                        await EnqueueAsync(r.Failures, ct);
                        break;
                }
                bus.Profile("bounce", message.GetType().Name, started);
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>
    /// The report is in the queue, or can never be written: the failed envelopes may go now
    /// (until then they stay, so that a crash makes them fail, and be reported, again).
    /// </summary>
    void Reported(List<BounceRequest> requests)
    {
        var failed = requests.Where(r => r.IsFailure).Select(r => r.Envelope).ToList();
        if (failed.Count > 0) bus.Post(new QueueFailureReported(failed));
    }

    async Task EnqueueAsync(List<BounceRequest> failures, CancellationToken ct)
    {
        var original = failures[0].Envelope;
        if (!MailAddress.TryParse(original.Sender, allowNoDomain: false, out var sender))
        {
            log.Warn($"bounce: cannot report to invalid sender <{original.Sender}>; dropped");
            Reported(failures);
            return;
        }
        var generation = config.Current;
        var ruleset = generation.Ruleset;
        string? refused = null;
        var deliveries = await Enqueuer.LocalDeliveriesAsync(generation, sender, ct, reason => refused = reason);
        if (deliveries.Count == 0)
        {
            log.Warn($"bounce: no rule routes a report to <{sender}> ({refused}); dropped");
            Reported(failures);
            return;
        }

        var report = DeliveryReport.Build(ruleset.Hostname, failures, time.GetUtcNow());
        try
        {
            var (msgid, envelopes) = await queue.EnqueueGeneratedAsync(report, sender.ToString(), deliveries, ruleset, time.GetUtcNow(), ct);
            foreach (var envelope in envelopes)
                log.Info($"{envelope.Id:x16} bounce msgid={msgid:x8} to=<{sender}> for msgid={original.MessageId:x8} nrcpt={failures.Count}");
            Reported(failures);
        }
        catch (IOException ex)
        {
            log.Warn($"bounce: cannot queue the report for <{sender}>, trying again in {RetryDelay.TotalSeconds:F0} s: {SystemErrors.Describe(ex)}");
            _ = Task.Delay(RetryDelay, time, ct).ContinueWith(t => { if (!t.IsCanceled) bus.Post(new Retry(failures)); }, TaskScheduler.Default);
        }
    }
}
