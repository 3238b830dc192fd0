using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Smtpd.Queue;
using Smtpd.Scheduler;

// The ramqueue scheduler with many envelopes (issue 6), one operation per benchmark over a whole
// queue: insert + commit, handing everything out in batches, recording a failed try for every
// envelope, scheduling all and deleting all; and, with --resident, the memory an envelope keeps.
// Run:
//   dotnet run -c Release --project bench/SchedulerBench -- --filter '*'
//   dotnet run -c Release --project bench/SchedulerBench -- --resident
if (args is ["--resident"]) { ResidentMemory.Print(); return; }
BenchmarkSwitcher.FromAssembly(typeof(RamSchedulerBench).Assembly).Run(args);

static class Queue
{
    /// <summary>Envelopes per message, as a message with a few recipients.</summary>
    public const int PerMessage = 4;
    public static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    public static SchedulerInfo[] Infos(int count)
    {
        var infos = new SchedulerInfo[count];
        for (int i = 0; i < count; i++)
        {
            uint msgid = (uint)(i / PerMessage + 1);
            ulong evpid = (ulong)msgid << 32 | (uint)(i % PerMessage + 1);
            infos[i] = new SchedulerInfo(evpid, i % 3 == 0 ? EnvelopeType.Mda : EnvelopeType.Mta, Now, 4 * 86400, 0, null);
        }
        return infos;
    }

    public static RamScheduler Filled(SchedulerInfo[] infos)
    {
        var s = new RamScheduler();
        for (int i = 0; i < infos.Length; i++)
        {
            s.Insert(infos[i]);
            if (i % PerMessage == PerMessage - 1 || i == infos.Length - 1) s.Commit(infos[i].MessageId);
        }
        return s;
    }

    /// <summary>Hands out every due envelope in batches of one message; returns how many.</summary>
    public static int BatchAll(RamScheduler s, Action<ulong>? each = null)
    {
        int handed = 0;
        while (s.Batch(Now, 100) is { Kind: not BatchKind.None } batch)
        {
            handed += batch.Envelopes.Count;
            if (each is not null) foreach (var evpid in batch.Envelopes) each(evpid);
        }
        return handed;
    }
}

[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 10, invocationCount: 1)]
public class RamSchedulerBench
{
    [Params(10_000, 100_000, 1_000_000)]
    public int Envelopes;

    SchedulerInfo[] _infos = [];
    SchedulerInfo[] _failed = [];
    RamScheduler _scheduler = new();

    [GlobalSetup]
    public void Setup()
    {
        _infos = Queue.Infos(Envelopes);
        _failed = [.. _infos.Select(i => i with { Retry = 1, LastTry = Queue.Now })];
    }

    // Every benchmark but the first starts from a full queue, built outside the measurement.
    [IterationSetup(Targets = [nameof(BatchAll), nameof(ScheduleAll), nameof(DeleteAll)])]
    public void Fill() => _scheduler = Queue.Filled(_infos);

    [IterationSetup(Target = nameof(UpdateAll))]
    public void FillAndHandOut()
    {
        _scheduler = Queue.Filled(_infos);
        Queue.BatchAll(_scheduler);
    }

    /// <summary>Insert every envelope into its message's changeset and commit each message.</summary>
    [Benchmark]
    public int InsertCommit() => Queue.Filled(_infos).Count;

    /// <summary>Hand out the whole queue in batches (one message and type each).</summary>
    [Benchmark]
    public int BatchAll() => Queue.BatchAll(_scheduler);

    /// <summary>Record a failed try for every envelope handed out (its next try is computed and queued).</summary>
    [Benchmark]
    public int UpdateAll()
    {
        foreach (var info in _failed) _scheduler.Update(info);
        return _scheduler.Count;
    }

    /// <summary><c>smtpctl schedule all</c>: every envelope due now.</summary>
    [Benchmark]
    public int ScheduleAll() => _scheduler.Schedule(0, Queue.Now);

    /// <summary>Delete every envelope, as deliveries that succeeded.</summary>
    [Benchmark]
    public int DeleteAll()
    {
        foreach (var info in _infos) _scheduler.Delete(info.Evpid);
        return _scheduler.Count;
    }
}

/// <summary>What a queued envelope keeps in memory: the managed heap after a full collection, with and without the queue.</summary>
static class ResidentMemory
{
    public static void Print()
    {
        Console.WriteLine("| envelopes | heap kept by the scheduler | per envelope |");
        Console.WriteLine("|---:|---:|---:|");
        foreach (int count in new[] { 10_000, 100_000, 1_000_000 })
        {
            long before = GC.GetTotalMemory(forceFullCollection: true);
            // The SchedulerInfo records count: the scheduler keeps the ones it is given.
            var infos = Queue.Infos(count);
            var scheduler = Queue.Filled(infos);
            long after = GC.GetTotalMemory(forceFullCollection: true) - (long)count * IntPtr.Size - 24; // less the array that holds them here
            Console.WriteLine($"| {count:N0} | {(after - before) / 1048576.0:F1} MiB | {(after - before) / count} B |");
            GC.KeepAlive(scheduler);
            GC.KeepAlive(infos);
        }
    }
}
