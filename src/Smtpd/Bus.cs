using System.Threading.Channels;
using Smtpd.Bounce;
using Smtpd.Lookup;
using Smtpd.Mda;
using Smtpd.Mta;
using Smtpd.Queue;
using Smtpd.Scheduler;
using Smtpd.Smtp;

namespace Smtpd;

/// <summary>
/// The channels components talk through (OpenSMTPD's imsg pipes). Each component reads only
/// its own channel and owns its state; any of them could move to a process of its own.
/// </summary>
public sealed class Bus
{
    static Channel<T> Create<T>() => Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true });

    public Channel<SmtpMessage> Smtp { get; } = Create<SmtpMessage>();
    public Channel<LookupMessage> Lookup { get; } = Create<LookupMessage>();
    public Channel<SchedulerMessage> Scheduler { get; } = Create<SchedulerMessage>();
    public Channel<QueueMessage> Queue { get; } = Create<QueueMessage>();
    public Channel<MdaMessage> Mda { get; } = Create<MdaMessage>();
    public Channel<MtaMessage> Mta { get; } = Create<MtaMessage>();
    public Channel<BounceMessage> Bounce { get; } = Create<BounceMessage>();
    /// <summary>The daemon's own requests (reload).</summary>
    public Channel<Reload.ParentMessage> Parent { get; } = Create<Reload.ParentMessage>();

    /// <summary>Where every component pushes its statistics (never read back by the logic).</summary>
    public Stats.IStatBackend Stats { get; set; } = new Stats.RamStatBackend();

    /// <summary><c>smtpctl profile</c>: components push the time each message handler took.</summary>
    public volatile bool Profiling;

    /// <summary>Fault injection (<c>-T chaos</c>); null, as always in production, when off.</summary>
    public Chaos.ChaosMonkey? Chaos { get; set; }

    /// <summary>Under chaos, a message between components may arrive late (never out of order: each component still reads its channel in turn).</summary>
    public Task ChaosPauseAsync(string component, CancellationToken ct = default) =>
        Chaos is { } monkey ? monkey.PauseAsync("bus." + component, ct) : Task.CompletedTask;

    /// <summary>
    /// Runs one message's handler: times it when profiling, as "profiling.COMPONENT.MESSAGE"
    /// durations, and when it throws on a request, answers the request with the error before
    /// the exception goes on to the component's loop.
    /// </summary>
    public async Task ProfileAsync(string component, object message, Func<Task> handler)
    {
        await ChaosPauseAsync(component);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            // Under chaos, throw=bus.COMPONENT.MESSAGE makes this handler fail, as a bug would.
            Chaos?.ThrowIfAsked($"bus.{component}.{message.GetType().Name}");
            await handler();
        }
        catch (Exception ex)
        {
            FailRequest(message, ex);
            throw;
        }
        Profile(component, message.GetType().Name, start);
    }

    /// <summary>How long a caller waits for an answer unless it says otherwise.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The clock request timeouts run on.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    long _lastRequestId;

    /// <summary>
    /// Sends a request and waits for its answer. It always ends: with the handler's answer, or
    /// with a <see cref="BusRequestException"/> when the handler threw or did not answer within
    /// <paramref name="timeout"/> (<see cref="RequestTimeout"/> by default).
    /// </summary>
    public Task<T> RequestAsync<T>(Func<BusReply<T>, SmtpMessage> request, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RequestAsync(Smtp.Writer, request, timeout, ct);
    public Task<T> RequestAsync<T>(Func<BusReply<T>, LookupMessage> request, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RequestAsync(Lookup.Writer, request, timeout, ct);
    public Task<T> RequestAsync<T>(Func<BusReply<T>, SchedulerMessage> request, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RequestAsync(Scheduler.Writer, request, timeout, ct);
    public Task<T> RequestAsync<T>(Func<BusReply<T>, QueueMessage> request, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RequestAsync(Queue.Writer, request, timeout, ct);
    public Task<T> RequestAsync<T>(Func<BusReply<T>, MdaMessage> request, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RequestAsync(Mda.Writer, request, timeout, ct);
    public Task<T> RequestAsync<T>(Func<BusReply<T>, MtaMessage> request, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RequestAsync(Mta.Writer, request, timeout, ct);
    public Task<T> RequestAsync<T>(Func<BusReply<T>, Reload.ParentMessage> request, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RequestAsync(Parent.Writer, request, timeout, ct);

    async Task<T> RequestAsync<TMessage, T>(ChannelWriter<TMessage> to, Func<BusReply<T>, TMessage> request, TimeSpan? timeout, CancellationToken ct)
    {
        var reply = new BusReply<T>(Interlocked.Increment(ref _lastRequestId), typeof(TMessage).Name);
        TMessage message = request(reply);
        reply.Request = message!.GetType().Name;
        if (!to.TryWrite(message)) reply.Fail(new BusRequestException(reply.Request, reply.Id, "the component has stopped"));
        var limit = timeout ?? RequestTimeout;
        try { return await reply.Task.WaitAsync(limit, Time, ct); }
        catch (TimeoutException)
        {
            var late = new BusRequestException(reply.Request, reply.Id, $"no answer within {limit.TotalSeconds:0.###} s");
            reply.Fail(late);
            throw late;
        }
    }

    /// <summary>A handler threw on <paramref name="message"/>: if a caller waits for its answer, it gets the error now.</summary>
    public static void FailRequest(object message, Exception error)
    {
        if (message is IBusRequest { Reply: { } reply }) reply.Fail(error);
    }

    /// <summary>Records how long one handler took, when profiling is on (<c>profiling.COMPONENT.NAME</c>).</summary>
    public void Profile(string component, string name, long startTimestamp)
    {
        if (Profiling) Stats.SetDuration($"profiling.{component}.{name}", System.Diagnostics.Stopwatch.GetElapsedTime(startTimestamp));
    }

    public void Post(SmtpMessage m) => Smtp.Writer.TryWrite(m);
    public void Post(LookupMessage m) => Lookup.Writer.TryWrite(m);
    public void Post(SchedulerMessage m) => Scheduler.Writer.TryWrite(m);
    public void Post(QueueMessage m) => Queue.Writer.TryWrite(m);
    public void Post(MdaMessage m) => Mda.Writer.TryWrite(m);
    public void Post(MtaMessage m) => Mta.Writer.TryWrite(m);
    public void Post(BounceMessage m) => Bounce.Writer.TryWrite(m);
}
