using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Smtpd.Queue;
using Smtpd.Scheduler;

// The ramqueue scheduler with many envelopes (issue 6): insert + commit of a whole queue, then
// handing everything out in batches, and the memory each envelope costs. Run:
//   dotnet run -c Release --project bench/SchedulerBench
BenchmarkSwitcher.FromAssembly(typeof(RamSchedulerBench).Assembly).Run(args);

[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class RamSchedulerBench
{
    [Params(10_000, 100_000, 1_000_000)]
    public int Envelopes;

    /// <summary>Envelopes per message, as a message with a few recipients.</summary>
    const int PerMessage = 4;

    SchedulerInfo[] _infos = [];
    static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    [GlobalSetup]
    public void Setup()
    {
        _infos = new SchedulerInfo[Envelopes];
        for (int i = 0; i < Envelopes; i++)
        {
            uint msgid = (uint)(i / PerMessage + 1);
            ulong evpid = (ulong)msgid << 32 | (uint)(i % PerMessage + 1);
            _infos[i] = new SchedulerInfo(evpid, i % 3 == 0 ? EnvelopeType.Mda : EnvelopeType.Mta, Now, 4 * 86400, 0, null);
        }
    }

    RamScheduler Filled()
    {
        var s = new RamScheduler();
        for (int i = 0; i < _infos.Length; i++)
        {
            s.Insert(_infos[i]);
            if (i % PerMessage == PerMessage - 1 || i == _infos.Length - 1) s.Commit(_infos[i].MessageId);
        }
        return s;
    }

    /// <summary>Insert every envelope into its message's changeset and commit each message.</summary>
    [Benchmark]
    public int InsertCommit() => Filled().Count;

    /// <summary>Insert + commit, then hand out everything in batches (one message per batch).</summary>
    [Benchmark]
    public int InsertCommitBatchAll()
    {
        var s = Filled();
        int handed = 0;
        while (true)
        {
            var batch = s.Batch(Now, 100);
            if (batch.Kind == BatchKind.None) break;
            handed += batch.Envelopes.Count;
            foreach (var evpid in batch.Envelopes) s.Delete(evpid);
        }
        return handed;
    }
}
