using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Bounce;
using Smtpd.Mta;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Tests.Scheduler;

// The queue and the scheduler running on a fake clock, the MTA and bounce components played by the
// test through the bus: hours of retries, expiry and delay warnings in milliseconds of real time.
// The times are those the RamScheduler unit tests and the relay tests observe (400 s, 1600 s...).
public sealed class FakeClockQueueTests : IAsyncDisposable
{
    static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    readonly FakeTimeProvider _clock = new(T0);
    readonly Bus _bus = new();
    readonly StringWriter _logText = new();
    readonly SmtpdLog _log;
    readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(60));
    readonly List<Task> _running = [];
    readonly RamQueue _ram = new();

    public FakeClockQueueTests() => _log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Synchronized(_logText));

    /// <summary>One relayed envelope of <paramref name="ttl"/> seconds in a ram queue, loaded and scheduled.</summary>
    async Task<Envelope> StartAsync(long ttl, IReadOnlyList<TimeSpan>? warnIntervals = null)
    {
        var ram = _ram;
        uint msgid = await ram.MessageCreateAsync();
        await using (var w = ram.MessageWriteStream(msgid)) await w.WriteAsync("Subject: slow\r\n\r\nbody\r\n"u8.ToArray());
        var e = new Envelope
        {
            Id = QueueIds.NewEnvelopeId(msgid), Dispatcher = "out", Type = EnvelopeType.Mta, Sender = "alice@example.org",
            Rcpt = "bob@far.example", Dest = "bob@far.example", CreationTime = T0, Ttl = ttl,
        };
        await ram.EnvelopeCreateAsync(e);
        await ram.MessageCommitAsync(msgid);
        var queue = new QueueProcess(ram, _bus, _clock, _log, warnIntervals);
        Assert.Equal(1, await queue.LoadAsync(_stop.Token));
        _running.Add(new SchedulerProcess(new RamScheduler(), _bus, _clock, _log).RunAsync(_stop.Token));
        _running.Add(queue.RunAsync(_stop.Token));
        return e;
    }

    static async Task<T> NextAsync<T>(ChannelReader<T> reader)
    {
        using var bounded = new CancellationTokenSource(Bound);
        return await reader.ReadAsync(bounded.Token);
    }

    /// <summary>The relay attempt the scheduler starts now (the queue hands it to the MTA).</summary>
    async Task<Envelope> TransferAsync() => Assert.Single(Assert.IsType<MtaTransfer>(await NextAsync(_bus.Mta.Reader)).Envelopes);

    /// <summary>Nothing is started for a while of real time: the scheduler waits on the fake clock.</summary>
    async Task AssertQuietAsync()
    {
        await Task.Delay(200);
        Assert.False(_bus.Mta.Reader.TryRead(out var early), $"started too early: {early}");
    }

    /// <summary>The MTA reports a temporary failure; returns once the queue has recorded it (before the clock moves on).</summary>
    async Task TempFail(Envelope e)
    {
        _bus.Post(new QueueDeliveryTempFail(e, "421 Try again later"));
        using var bounded = new CancellationTokenSource(Bound);
        while ((await _ram.EnvelopeLoadAsync(e.Id))?.Retry == e.Retry) await Task.Delay(5, bounded.Token);
    }

    [Fact]
    public async Task A_relay_that_keeps_failing_is_tried_again_at_creation_plus_400_s_then_1600_s()
    {
        var e = await StartAsync(ttl: 4 * 86400);
        e = await TransferAsync();
        await TempFail(e);
        _clock.Advance(TimeSpan.FromSeconds(399));
        await AssertQuietAsync();
        _clock.Advance(TimeSpan.FromSeconds(1));
        e = await TransferAsync();
        Assert.Equal(1, e.Retry);
        Assert.Equal(T0, e.LastTry);
        await TempFail(e);
        _clock.Advance(TimeSpan.FromSeconds(1199));
        await AssertQuietAsync();
        _clock.Advance(TimeSpan.FromSeconds(1));
        e = await TransferAsync();
        Assert.Equal(2, e.Retry);
        Assert.Equal(T0.AddSeconds(400), e.LastTry);
    }

    [Fact]
    public async Task An_envelope_past_its_ttl_expires_on_time_and_its_sender_gets_a_bounce()
    {
        var e = await StartAsync(ttl: 1000);
        await TempFail(await TransferAsync());
        _clock.Advance(TimeSpan.FromSeconds(400));
        await TempFail(await TransferAsync());
        // The next slot (1600 s) is past the ttl: the envelope expires at 1000 s, not later.
        _clock.Advance(TimeSpan.FromSeconds(599));
        await AssertQuietAsync();
        Assert.False(_bus.Bounce.Reader.TryRead(out _));
        _clock.Advance(TimeSpan.FromSeconds(1));
        var bounce = Assert.IsType<BounceRequest>(await NextAsync(_bus.Bounce.Reader));
        Assert.Equal(e.Id, bounce.Envelope.Id);
        Assert.Equal("failed", bounce.Action);
        Assert.Equal("Envelope expired: 421 Try again later", bounce.Error);
        // The log is written by a task of its own: the line may reach the writer after the bounce request.
        string expected = $"queue expire evpid={e.Id:x16} from=<alice@example.org> to=<bob@far.example> delay=16m40s result=PermFail";
        for (int i = 0; i < 100 && !_logText.ToString().Contains(expected); i++) await Task.Delay(50);
        Assert.Contains(expected, _logText.ToString());
        Assert.False(_bus.Mta.Reader.TryRead(out _));
    }

    [Fact]
    public async Task The_sender_is_warned_once_when_the_mail_waits_past_the_warn_interval()
    {
        await StartAsync(ttl: 4 * 86400, warnIntervals: [TimeSpan.FromMinutes(10)]);
        await TempFail(await TransferAsync());
        _clock.Advance(TimeSpan.FromSeconds(400));
        await TempFail(await TransferAsync());
        _clock.Advance(TimeSpan.FromSeconds(1200));
        var e = await TransferAsync();
        Assert.False(_bus.Bounce.Reader.TryRead(out _)); // 400 s: not yet delayed for 10 min
        await TempFail(e);
        // 1600 s: past 10 min, one delay report.
        var warning = Assert.IsType<BounceRequest>(await NextAsync(_bus.Bounce.Reader));
        Assert.Equal("delayed", warning.Action);
        Assert.Equal(e.Id, warning.Envelope.Id);
        Assert.Equal(T0.AddSeconds(1600), warning.Envelope.LastBounce);
        _clock.Advance(TimeSpan.FromSeconds(2000));
        await TempFail(await TransferAsync());
        _clock.Advance(TimeSpan.FromSeconds(2800));
        await TransferAsync(); // the queue recorded the failure before handing the envelope out again
        Assert.False(_bus.Bounce.Reader.TryRead(out _)); // once per interval
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await Task.WhenAll(_running).WaitAsync(Bound); } catch (OperationCanceledException) { }
        _log.Dispose();
        _stop.Dispose();
    }
}
