using System.Net;
using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Mta;
using Smtpd.Queue;
using Smtpd.Scheduler;
using Smtpd.Table;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

// The MTA on a fake clock, relaying to 127.0.0.1 where nobody listens; the queue and the scheduler
// are played by the test through the bus. The same penalties as the real-time relay test
// (2 s, 4 s, 8 s: A_route_that_keeps_failing_is_penalized_longer_each_time) and the next hop's
// one-minute broken mark, in milliseconds of real time.
public sealed class FakeClockPenaltyTests : IAsyncDisposable
{
    static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    readonly FakeTimeProvider _clock = new(T0);
    readonly Bus _bus = new();
    readonly SmtpdLog _log = new(foreground: true, verbose: false, TextWriter.Null);
    readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(60));
    readonly MtaProcess _mta;
    readonly Task _running;
    readonly Envelope _envelope = new()
    {
        Id = QueueIds.NewEnvelopeId(0x1234), Dispatcher = "out", Type = EnvelopeType.Mta, Sender = "alice@example.org",
        Rcpt = "bob@far.example", Dest = "bob@far.example", CreationTime = T0, Ttl = 86400,
    };

    /// <summary>No DNS at all: the relay host is an address, and next hops have no reverse name.</summary>
    sealed class NoDns : IDnsResolver
    {
        public Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct) => Task.FromResult<MxLookup>(new MxLookup.Temporary("no DNS in this test"));
        public Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct) => Task.FromResult<IReadOnlyList<IPAddress>>([IPAddress.Parse(host)]);
        public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => Task.FromResult(ReverseName.None);
    }

    public FakeClockPenaltyTests()
    {
        int closed = SmtpdInstance.FreePort();
        var ruleset = ConfigParser.Parse($"action \"out\" relay host smtp://127.0.0.1:{closed}\nmatch from any for any action \"out\"\n", "t.conf");
        _mta = new MtaProcess(ruleset, new TableSet(ruleset), new NoDns(), new RamQueue(), _bus, _clock, _log);
        _running = _mta.RunAsync(_stop.Token);
    }

    static async Task<T> NextAsync<T>(ChannelReader<T> reader)
    {
        using var bounded = new CancellationTokenSource(Bound);
        return await reader.ReadAsync(bounded.Token);
    }

    /// <summary>One attempt now; what the MTA tells the queue.</summary>
    async Task<QueueDeliveryTempFail> AttemptAsync()
    {
        _bus.Post(new MtaTransfer([_envelope]));
        return Assert.IsType<QueueDeliveryTempFail>(await NextAsync(_bus.Queue.Reader));
    }

    /// <summary>The route's line of show routes, asked of the MTA's loop as smtpctl asks it.</summary>
    async Task<string> LineAsync(string part) =>
        Assert.Single(await _bus.RequestAsync<IReadOnlyList<string>>(r => new MtaShow(MtaView.Routes, r)), l => l.Contains(part));

    [Fact]
    public async Task A_failing_route_waits_2_then_4_then_8_seconds_and_its_envelopes_come_back_when_each_wait_ends()
    {
        Assert.Equal(T0.AddSeconds(2), (await AttemptAsync()).RetryAt);
        Assert.EndsWith("(action out) -D-- nconn=0 nerror=1 penalty=1 timeout=2s", await LineAsync("far.example"));

        // Asked again while the route waits: handed back untried, to come when the wait ends.
        _bus.Post(new MtaTransfer([_envelope]));
        var deferred = Assert.IsType<SchedulerDefer>(await NextAsync(_bus.Scheduler.Reader));
        Assert.Equal(T0.AddSeconds(2), deferred.Until);

        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(T0.AddSeconds(2 + 4), (await AttemptAsync()).RetryAt);
        Assert.EndsWith("penalty=2 timeout=4s", await LineAsync("far.example"));
        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(T0.AddSeconds(6 + 8), (await AttemptAsync()).RetryAt);
        Assert.EndsWith("penalty=3 timeout=8s", await LineAsync("far.example"));
    }

    [Fact]
    public async Task After_five_minutes_of_failures_the_route_leaves_the_retry_to_the_scheduler()
    {
        Assert.NotNull((await AttemptAsync()).RetryAt);
        _clock.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.NotNull((await AttemptAsync()).RetryAt);
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Null((await AttemptAsync()).RetryAt); // the scheduler's back-off slot, not the penalty's end
    }

    [Fact]
    public async Task A_next_hop_that_refused_the_connection_is_marked_broken_for_a_minute()
    {
        await AttemptAsync();
        Assert.EndsWith("ND-- nconn=0 nerror=1 penalty=1 timeout=1m", await LineAsync("127.0.0.1"));
        _clock.Advance(TimeSpan.FromSeconds(59));
        Assert.EndsWith("penalty=1 timeout=1s", await LineAsync("127.0.0.1"));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.EndsWith("N--- nconn=0 nerror=1 penalty=0 timeout=-", await LineAsync("127.0.0.1"));
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _running.WaitAsync(Bound); } catch (OperationCanceledException) { }
        _log.Dispose();
        _stop.Dispose();
    }
}
