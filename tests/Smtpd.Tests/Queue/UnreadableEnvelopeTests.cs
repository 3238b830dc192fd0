using Smtpd.Chaos;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Tests.Queue;

// An envelope the queue cannot read when the scheduler hands it out (an I/O error) must come
// back to the scheduler to be tried again; before, it stayed "in flight" for ever.
public sealed class UnreadableEnvelopeTests
{
    [Fact]
    public async Task An_envelope_that_cannot_be_read_is_handed_back_to_the_scheduler_for_a_retry()
    {
        var ram = new RamQueue();
        uint msgid = await ram.MessageCreateAsync();
        await using (var w = ram.MessageWriteStream(msgid)) await w.WriteAsync("Subject: x\r\n\r\nx\r\n"u8.ToArray());
        var e = new Envelope
        {
            Id = QueueIds.NewEnvelopeId(msgid), Dispatcher = "local", Type = EnvelopeType.Mda, Sender = "a@example.org",
            Rcpt = "b@example.org", Dest = "b@example.org", CreationTime = DateTimeOffset.UtcNow, Ttl = 3600,
        };
        await ram.EnvelopeCreateAsync(e);
        await ram.MessageCommitAsync(msgid);

        var bus = new Bus();
        using var log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Null);
        // Every read of an envelope fails.
        var failing = new ChaosQueue(ram, new ChaosMonkey(ChaosSettings.Parse("seed=1,fail=1,delay=0")));
        var queue = new QueueProcess(failing, bus, TimeProvider.System, log);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = queue.RunAsync(stop.Token);

        bus.Post(new QueueDeliver(EnvelopeType.Mda, [e.Id]));
        SchedulerMessage answer = await bus.Scheduler.Reader.ReadAsync(stop.Token);
        Assert.Equal(new SchedulerRetry(e.Id), answer);
        Assert.False(bus.Mda.Reader.TryRead(out _)); // nothing was handed to delivery
        stop.Cancel();
        try { await running; } catch (OperationCanceledException) { }
    }
}
