using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Tests.Scheduler;

public class RamSchedulerTests
{
    static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    static SchedulerInfo Info(uint msgid, uint n, EnvelopeType type = EnvelopeType.Mda, int retry = 0, DateTimeOffset? lastTry = null, long ttl = 4 * 86400) =>
        new(((ulong)msgid << 32) | n, type, T0, ttl, retry, lastTry);

    [Fact]
    public void Inserted_envelopes_are_invisible_until_commit_then_batched_together()
    {
        var s = new RamScheduler();
        s.Insert(Info(1, 1)); s.Insert(Info(1, 2)); s.Insert(Info(1, 3));
        Assert.Equal(BatchKind.None, s.Batch(T0, 100).Kind);
        Assert.Equal(3, s.Commit(1));
        var batch = s.Batch(T0, 100);
        Assert.Equal(BatchKind.Mda, batch.Kind);
        Assert.Equal(3, batch.Envelopes.Count);
        // In flight: not handed out twice.
        Assert.Equal(BatchKind.None, s.Batch(T0, 100).Kind);
    }

    [Fact]
    public void Rollback_leaves_no_trace()
    {
        var s = new RamScheduler();
        s.Insert(Info(7, 1)); s.Insert(Info(7, 2));
        Assert.Equal(2, s.Rollback(7));
        Assert.Equal(0, s.Commit(7));
        Assert.Equal(0, s.Count);
        Assert.Equal(BatchKind.None, s.Batch(T0.AddDays(10), 100).Kind);
    }

    [Fact]
    public void Temporary_failure_waits_the_quadratic_delay()
    {
        var s = new RamScheduler();
        s.Insert(Info(2, 1, EnvelopeType.Mta)); s.Commit(2);
        var first = s.Batch(T0, 10);
        Assert.Equal(BatchKind.Mta, first.Kind);

        s.Update(Info(2, 1, EnvelopeType.Mta, retry: 2, lastTry: T0));
        var wait = s.Batch(T0, 10);
        Assert.Equal(BatchKind.None, wait.Kind);
        // k·n²/2 with k=800 for relaying: 800·4/2 = 1600 s.
        Assert.Equal(TimeSpan.FromSeconds(1600), wait.Delay);
        Assert.Equal(BatchKind.None, s.Batch(T0.AddSeconds(1599), 10).Kind);
        Assert.Equal(BatchKind.Mta, s.Batch(T0.AddSeconds(1600), 10).Kind);
    }

    [Fact]
    public void Retry_delay_grows_quadratically_and_is_capped()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), RetryDelay.After(EnvelopeType.Mda, 1));
        Assert.Equal(TimeSpan.FromSeconds(40), RetryDelay.After(EnvelopeType.Mda, 2));
        Assert.Equal(TimeSpan.FromSeconds(400), RetryDelay.After(EnvelopeType.Mta, 1));
        Assert.Equal(RetryDelay.Cap, RetryDelay.After(EnvelopeType.Mta, 50));
    }

    [Fact]
    public void Expired_envelope_is_handed_out_for_expiry()
    {
        var s = new RamScheduler();
        s.Insert(Info(3, 1, ttl: 60)); s.Commit(3);
        var batch = s.Batch(T0.AddSeconds(61), 10);
        Assert.Equal(BatchKind.Expire, batch.Kind);
        s.Delete(batch.Envelopes[0]);
        Assert.Equal(0, s.Count);
    }

    [Fact]
    public void Envelope_waiting_past_its_expiry_expires_on_time()
    {
        var s = new RamScheduler();
        s.Insert(Info(5, 1, EnvelopeType.Mta, ttl: 100)); s.Commit(5);
        s.Batch(T0, 10);
        s.Update(Info(5, 1, EnvelopeType.Mta, retry: 1, lastTry: T0, ttl: 100)); // next try would be T0+400 s
        Assert.Equal(TimeSpan.FromSeconds(100), s.Batch(T0, 10).Delay);
        Assert.Equal(BatchKind.Expire, s.Batch(T0.AddSeconds(100), 10).Kind);
    }

    [Fact]
    public void Schedule_makes_a_waiting_envelope_due_now()
    {
        var s = new RamScheduler();
        s.Insert(Info(4, 1)); s.Commit(4);
        s.Batch(T0, 10);
        s.Update(Info(4, 1, retry: 5, lastTry: T0));
        Assert.Equal(BatchKind.None, s.Batch(T0.AddSeconds(1), 10).Kind);
        Assert.Equal(1, s.Schedule((ulong)4 << 32, T0.AddSeconds(1)));
        Assert.Equal(BatchKind.Mda, s.Batch(T0.AddSeconds(1), 10).Kind);
    }
}
