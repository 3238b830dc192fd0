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

        // Failed again past the first slot (creation + 400 s): the next is the second one,
        // creation + k·n²/2 with k=800 for relaying: 800·4/2 = 1600 s.
        s.Update(Info(2, 1, EnvelopeType.Mta, retry: 2, lastTry: T0.AddSeconds(401)));
        var wait = s.Batch(T0.AddSeconds(401), 10);
        Assert.Equal(BatchKind.None, wait.Kind);
        Assert.Equal(TimeSpan.FromSeconds(1199), wait.Delay);
        Assert.Equal(BatchKind.None, s.Batch(T0.AddSeconds(1599), 10).Kind);
        Assert.Equal(BatchKind.Mta, s.Batch(T0.AddSeconds(1600), 10).Kind);
    }

    [Fact]
    public void Quick_retries_of_a_penalized_route_do_not_push_the_back_off_away()
    {
        // Eight quick tries in the first minutes (a greylisting peer) leave the next slot where it was.
        var s = new RamScheduler();
        s.Insert(Info(9, 1, EnvelopeType.Mta)); s.Commit(9);
        s.Batch(T0, 10);
        Assert.True(s.Update(Info(9, 1, EnvelopeType.Mta, retry: 8, lastTry: T0.AddSeconds(300))));
        Assert.Equal(TimeSpan.FromSeconds(100), s.Batch(T0.AddSeconds(300), 10).Delay);
    }

    [Fact]
    public void A_route_penalty_sooner_than_the_back_off_is_when_the_envelope_is_tried_again()
    {
        var s = new RamScheduler();
        s.Insert(Info(10, 1, EnvelopeType.Mta)); s.Commit(10);
        s.Batch(T0, 10);
        s.Update(Info(10, 1, EnvelopeType.Mta, retry: 1, lastTry: T0), retryAt: T0.AddSeconds(2));
        var line = Assert.Single(s.Envelopes(0));
        Assert.Equal(("pending", T0.AddSeconds(2), 1), (line.State, line.Due, line.Info.Retry));
        Assert.Equal(BatchKind.Mta, s.Batch(T0.AddSeconds(2), 10).Kind);
        // Deferred untried: pending again, nothing counted.
        Assert.True(s.Defer(((ulong)10 << 32) | 1, T0.AddSeconds(8)));
        line = Assert.Single(s.Envelopes(0));
        Assert.Equal(("pending", T0.AddSeconds(8), 1), (line.State, line.Due, line.Info.Retry));
    }

    [Fact]
    public void Remove_reaches_an_envelope_in_flight_and_its_outcome_is_discarded()
    {
        var s = new RamScheduler();
        s.Insert(Info(11, 1, EnvelopeType.Mta)); s.Insert(Info(11, 2, EnvelopeType.Mta)); s.Commit(11);
        Assert.Equal(2, s.Batch(T0, 10).Envelopes.Count);
        var removal = s.Remove((ulong)11 << 32);
        Assert.Equal(2, removal.Count);
        Assert.Empty(removal.Removed);
        Assert.All(s.Envelopes(0), e => Assert.True(e.Removed));
        Assert.Equal(0, s.Remove((ulong)11 << 32).Count); // already marked
        // Failed for now: forgotten, not tried again. Delivered meanwhile: forgotten as usual.
        Assert.False(s.Update(Info(11, 1, EnvelopeType.Mta, retry: 1, lastTry: T0)));
        s.Delete(((ulong)11 << 32) | 2);
        Assert.Equal(0, s.Count);
    }

    [Fact]
    public void Summary_counts_each_state_as_the_envelope_list_does()
    {
        var s = new RamScheduler();
        Assert.Equal(new QueueSummary(0, 0, 0, null), s.Summary());
        s.Insert(Info(20, 1, EnvelopeType.Mta)); s.Commit(20);
        s.Batch(T0, 10); // 20.1 in flight
        var later = new SchedulerInfo(((ulong)21 << 32) | 1, EnvelopeType.Mda, T0.AddMinutes(5), 86400, 0, null);
        s.Insert(later); s.Insert(Info(22, 1)); s.Insert(Info(23, 1)); s.Insert(Info(24, 1)); s.Commit(21); s.Commit(22); s.Commit(23); s.Commit(24);
        s.Suspend((ulong)22 << 32);
        s.Remove((ulong)23 << 32); // waiting: forgotten at once
        s.Insert(Info(25, 1)); // not committed: not in the queue yet
        var summary = s.Summary();
        Assert.Equal(new QueueSummary(Pending: 2, InFlight: 1, Suspended: 1, Oldest: T0), summary);
        var list = s.Envelopes(0).Where(e => !e.Removed).ToList();
        Assert.Equal(list.Count, summary.Pending + summary.InFlight + summary.Suspended);
        // Removed while in flight: no longer counted, as smtpctl no longer lists it.
        s.Remove((ulong)20 << 32);
        Assert.Equal(new QueueSummary(2, 0, 1, T0), s.Summary());
    }

    [Fact]
    public void Pause_reaches_an_envelope_in_flight_and_holds_it_once_back()
    {
        var s = new RamScheduler();
        s.Insert(Info(12, 1, EnvelopeType.Mta)); s.Commit(12);
        s.Batch(T0, 10);
        Assert.Equal(1, s.Suspend(0));
        Assert.Equal(0, s.Schedule(0, T0)); // in flight: nothing to schedule
        s.Update(Info(12, 1, EnvelopeType.Mta, retry: 1, lastTry: T0), retryAt: T0.AddSeconds(1));
        var line = Assert.Single(s.Envelopes(0));
        Assert.Equal(("pending", true), (line.State, line.Suspended));
        Assert.Equal(BatchKind.None, s.Batch(T0.AddHours(1), 10).Kind);
        Assert.Equal(1, s.Schedule(0, T0.AddHours(1)));
        Assert.Equal(BatchKind.None, s.Batch(T0.AddHours(1), 10).Kind);
        Assert.Equal(1, s.Resume(0, T0.AddHours(1)));
        Assert.Equal(BatchKind.Mta, s.Batch(T0.AddHours(1), 10).Kind);
    }

    [Fact]
    public void A_quarantined_envelope_is_held_from_commit_and_only_a_release_lets_it_go()
    {
        var s = new RamScheduler();
        s.Insert(Info(13, 1) with { Quarantined = true }); s.Insert(Info(13, 2) with { Quarantined = true }); s.Commit(13);
        Assert.Equal(BatchKind.None, s.Batch(T0, 10).Kind);
        Assert.All(s.Envelopes(0), e => Assert.True(e.Suspended));
        Assert.Equal(new QueueSummary(0, 0, 2, T0), s.Summary());
        // Resume lifts an admin's pause, not a quarantine; a paused quarantined envelope needs both.
        Assert.Equal(1, s.Suspend((13UL << 32) | 2));
        Assert.Equal(1, s.Resume(0, T0));
        Assert.Equal(2, s.Schedule(0, T0)); // both made due now, still held
        Assert.Equal(BatchKind.None, s.Batch(T0, 10).Kind);
        Assert.Equal([(13UL << 32) | 1, (13UL << 32) | 2], s.Quarantined(13UL << 32));
        Assert.Equal(2, s.Release(s.Quarantined(0)));
        Assert.Empty(s.Quarantined(0));
        var batch = s.Batch(T0, 10);
        Assert.Equal((BatchKind.Mda, 2), (batch.Kind, batch.Envelopes.Count));
    }

    [Fact]
    public void A_release_leaves_an_admins_pause_in_place()
    {
        var s = new RamScheduler();
        s.Insert(Info(14, 1) with { Quarantined = true }); s.Commit(14);
        Assert.Equal(1, s.Suspend(0));
        Assert.Equal(1, s.Release([(14UL << 32) | 1]));
        Assert.Equal(BatchKind.None, s.Batch(T0, 10).Kind);
        Assert.True(Assert.Single(s.Envelopes(0)).Suspended);
        Assert.Equal(1, s.Resume(0, T0));
        Assert.Equal(BatchKind.Mda, s.Batch(T0, 10).Kind);
    }

    [Fact]
    public void Retry_delay_grows_quadratically_and_is_capped()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), RetryDelay.After(EnvelopeType.Mda, 1));
        Assert.Equal(TimeSpan.FromSeconds(40), RetryDelay.After(EnvelopeType.Mda, 2));
        Assert.Equal(TimeSpan.FromSeconds(400), RetryDelay.After(EnvelopeType.Mta, 1));
        Assert.Equal(RetryDelay.Cap, RetryDelay.After(EnvelopeType.Mta, 50));
        // The next try is the first slot (creation + k·n²/2) after the last one, at most Cap later.
        Assert.Equal(T0.AddSeconds(10), RetryDelay.NextTry(EnvelopeType.Mda, T0, T0));
        Assert.Equal(T0.AddSeconds(40), RetryDelay.NextTry(EnvelopeType.Mda, T0, T0.AddSeconds(10)));
        Assert.Equal(T0.AddSeconds(3600), RetryDelay.NextTry(EnvelopeType.Mta, T0, T0.AddSeconds(1700)));
        Assert.Equal(T0.AddDays(30) + RetryDelay.Cap, RetryDelay.NextTry(EnvelopeType.Mta, T0, T0.AddDays(30)));
        Assert.Equal(DateTimeOffset.MaxValue, RetryDelay.NextTry(EnvelopeType.Mta, T0, DateTimeOffset.MaxValue.AddHours(-1)));
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
