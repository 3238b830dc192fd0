using System.Threading.Channels;
using Smtpd.Bounce;
using Smtpd.Mda;
using Smtpd.Mta;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd;

/// <summary>
/// The channels components talk through (OpenSMTPD's imsg pipes). Each component reads only
/// its own channel and owns its state; any of them could move to a process of its own.
/// </summary>
public sealed class Bus
{
    static Channel<T> Create<T>() => Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true });

    public Channel<SchedulerMessage> Scheduler { get; } = Create<SchedulerMessage>();
    public Channel<QueueMessage> Queue { get; } = Create<QueueMessage>();
    public Channel<MdaMessage> Mda { get; } = Create<MdaMessage>();
    public Channel<MtaMessage> Mta { get; } = Create<MtaMessage>();
    public Channel<BounceMessage> Bounce { get; } = Create<BounceMessage>();

    /// <summary>Where every component pushes its statistics (never read back by the logic).</summary>
    public Stats.IStatBackend Stats { get; set; } = new Stats.RamStatBackend();

    /// <summary><c>smtpctl profile</c>: components push the time each message handler took.</summary>
    public volatile bool Profiling;

    /// <summary>Fault injection (<c>-T chaos</c>); null, as always in production, when off.</summary>
    public Chaos.ChaosMonkey? Chaos { get; set; }

    /// <summary>Under chaos, a message between components may arrive late (never out of order: each component still reads its channel in turn).</summary>
    public Task ChaosPauseAsync(string component, CancellationToken ct = default) =>
        Chaos is { } monkey ? monkey.PauseAsync("bus." + component, ct) : Task.CompletedTask;

    /// <summary>Times <paramref name="handler"/> when profiling, as "profiling.COMPONENT.MESSAGE" durations.</summary>
    public async Task ProfileAsync(string component, object message, Func<Task> handler)
    {
        await ChaosPauseAsync(component);
        if (!Profiling) { await handler(); return; }
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        await handler();
        Profile(component, message.GetType().Name, start);
    }

    /// <summary>Records how long one handler took, when profiling is on (<c>profiling.COMPONENT.NAME</c>).</summary>
    public void Profile(string component, string name, long startTimestamp)
    {
        if (Profiling) Stats.SetDuration($"profiling.{component}.{name}", System.Diagnostics.Stopwatch.GetElapsedTime(startTimestamp));
    }

    public void Post(SchedulerMessage m) => Scheduler.Writer.TryWrite(m);
    public void Post(QueueMessage m) => Queue.Writer.TryWrite(m);
    public void Post(MdaMessage m) => Mda.Writer.TryWrite(m);
    public void Post(MtaMessage m) => Mta.Writer.TryWrite(m);
    public void Post(BounceMessage m) => Bounce.Writer.TryWrite(m);
}
