namespace Smtpd.Scheduler;

/// <summary>
/// A scheduler that schedules nothing (seed 004: the null backend): accepted mail stays in the
/// queue untouched. For benchmarks of reception; never for mail that should leave.
/// </summary>
public sealed class NullScheduler : ISchedulerBackend
{
    public void Insert(SchedulerInfo info) { }
    public int Commit(uint msgid) => 0;
    public int Rollback(uint msgid) => 0;
    public bool Update(SchedulerInfo info, DateTimeOffset? retryAt = null) => true;
    public bool Defer(ulong evpid, DateTimeOffset until) => true;
    public void Delete(ulong evpid) { }
    public SchedulerBatch Batch(DateTimeOffset now, int max) => SchedulerBatch.Idle(null);
    public int Schedule(ulong id, DateTimeOffset now) => 0;
    public SchedulerRemoval Remove(ulong id) => SchedulerRemoval.None;
    public int Suspend(ulong id) => 0;
    public int Resume(ulong id, DateTimeOffset now) => 0;
    public IReadOnlyList<ulong> Quarantined(ulong id) => [];
    public int Release(IReadOnlyList<ulong> evpids) => 0;
    public IReadOnlyList<ScheduledEnvelope> Envelopes(ulong id) => [];
    public IReadOnlyList<uint> Messages() => [];
    public QueueSummary Summary() => default;
    public int Count => 0;
}
