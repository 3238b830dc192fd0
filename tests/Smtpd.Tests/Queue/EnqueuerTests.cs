using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Tests.Queue;

// The one way into the queue (SMTP sessions and bounces): the scheduler hears of the envelopes
// only as one changeset that becomes visible after the message is durable; a rollback leaves
// nothing, neither on disk nor in the scheduler.
public sealed class EnqueuerTests
{
    static Envelope EnvelopeOf(uint msgid, string rcpt) => new()
    {
        Id = QueueIds.NewEnvelopeId(msgid), Dispatcher = "local", Type = EnvelopeType.Mda, Sender = "a@example.org",
        Rcpt = rcpt, Dest = rcpt, CreationTime = DateTimeOffset.UtcNow, Ttl = 3600,
    };

    [Fact]
    public async Task A_commit_stores_message_and_envelopes_then_hands_the_scheduler_one_changeset()
    {
        var ram = new RamQueue();
        var bus = new Bus();
        var enqueue = new Enqueuer(ram, bus);
        uint msgid = await enqueue.CreateAsync();
        await using (var w = enqueue.WriteStream(msgid)) await w.WriteAsync("Subject: x\r\n\r\nx\r\n"u8.ToArray());
        var envelopes = new[] { EnvelopeOf(msgid, "b@example.org"), EnvelopeOf(msgid, "c@example.org") };

        await enqueue.CommitAsync(msgid, envelopes);

        foreach (var e in envelopes) Assert.Equal(e.Rcpt, (await ram.EnvelopeLoadAsync(e.Id))?.Rcpt);
        var told = new List<SchedulerMessage>();
        while (bus.Scheduler.Reader.TryRead(out var m)) told.Add(m);
        Assert.Equal([.. envelopes.Select(e => (SchedulerMessage)new SchedulerInsert(SchedulerInfo.From(e))), new SchedulerCommit(msgid)], told);
        Assert.Equal(2, bus.Stats.Snapshot()[Stats.StatKeys.EnvelopeEnqueued].Value);
    }

    [Fact]
    public async Task A_rollback_deletes_the_message_and_drops_the_schedulers_changeset()
    {
        var ram = new RamQueue();
        var bus = new Bus();
        var enqueue = new Enqueuer(ram, bus);
        uint msgid = await enqueue.CreateAsync();
        await using (var w = enqueue.WriteStream(msgid)) await w.WriteAsync("x\r\n"u8.ToArray());

        await enqueue.RollbackAsync(msgid);

        Assert.True(bus.Scheduler.Reader.TryRead(out var m));
        Assert.Equal(new SchedulerRollback(msgid), m);
        // Nothing left to commit: the incoming message is gone.
        await Assert.ThrowsAsync<IOException>(() => ram.MessageCommitAsync(msgid));
    }
}
