using System.IO.Compression;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Config;
using Smtpd.Lookup;
using Smtpd.Lookup.Dns;
using Smtpd.Mta.TlsPolicy;
using Smtpd.Mta.TlsPolicy.Rpt;
using Smtpd.Queue;
using Smtpd.Reload;
using Smtpd.Table;

namespace Smtpd.Tests.Mta.TlsPolicy;

// The reporter on a fake clock, without SMTPD_TLSRPT_PERIOD: smtpd started at 13:05Z, a session
// to ok.example recorded; ok.example's _smtp._tls record names an https: rua, played by an
// in-test HTTP handler. The report comes at midnight UTC and covers that UTC day; a POST that
// fails is tried again a minute later.
public sealed class TlsRptReporterTests : IAsyncDisposable
{
    static readonly DateTimeOffset Started = new(2026, 12, 7, 13, 5, 9, TimeSpan.Zero);
    static readonly DateTimeOffset Midnight = new(2026, 12, 8, 0, 0, 0, TimeSpan.Zero);
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    readonly FakeTimeProvider _clock = new(Started);
    readonly TlsRptRecorder _recorder = new();
    readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(60));
    readonly Endpoint _endpoint = new();
    readonly Rua _dns = new();
    Task? _running;

    /// <summary>ok.example's _smtp._tls record; the first <see cref="Failures"/> queries get no answer (SERVFAIL, a timeout).</summary>
    sealed class Rua : IDnsResolver, IDnssecResolver
    {
        int _queries;
        public int Failures { get; set; }

        public Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct)
        {
            if (Interlocked.Increment(ref _queries) <= Failures) throw new DnsTempFailException($"DNS error for {name}: ServerFailure");
            return Task.FromResult(name == "_smtp._tls.ok.example" && type == DnsRecordType.Txt
                ? new DnssecAnswer([new DnsAnswer.Txt(name, "v=TLSRPTv1; rua=https://rpt.example/tlsrpt")], false, true)
                : new DnssecAnswer([], false, false));
        }
        public Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct) => throw new InvalidOperationException("no MX lookup expected");
        public Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct) => throw new InvalidOperationException("no address lookup expected");
        public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => Task.FromResult(ReverseName.None);
    }

    /// <summary>Answers 503 to the first <see cref="Failures"/> POSTs, then 200; keeps each body and when it came.</summary>
    sealed class Endpoint : HttpMessageHandler
    {
        readonly List<(byte[] Body, DateTimeOffset At)> _posts = [];
        public int Failures { get; set; }
        public TimeProvider Clock { get; set; } = TimeProvider.System;
        public IReadOnlyList<(byte[] Body, DateTimeOffset At)> Posts { get { lock (_posts) return [.. _posts]; } }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            byte[] body = await request.Content!.ReadAsByteArrayAsync(ct);
            int n;
            lock (_posts) { _posts.Add((body, Clock.GetUtcNow())); n = _posts.Count; }
            return new HttpResponseMessage(n <= Failures ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK);
        }
    }

    TlsRptReporter Reporter(TlsRptRecorder recorder, string? state = null)
    {
        var ruleset = ConfigParser.Parse("""
            tls-rpt domain reporter.test contact postmaster@reporter.test
            action "out" relay
            match from any for any action "out"
            """, "t.conf");
        var tables = new TableSet(ruleset);
        var recipients = new RecipientResolver(ruleset, new RuleMatcher(ruleset, tables, new LocalNames(ruleset.Hostname)), _ => null, tables);
        var generation = new ConfigGeneration(1, new CheckedConfig(ruleset, [], Smtpd.Mta.RelayCas.Load(ruleset), []), tables, recipients,
            new Smtpd.Smtp.Auth.Authenticator(tables), null);
        var log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Null);
        _endpoint.Clock = _clock;
        return new TlsRptReporter(new LiveConfig(generation), new Enqueuer(new RamQueue(), new Bus()), _dns, recorder,
            _clock, log, period: null, new HttpClient(_endpoint), state);
    }

    static OutboundTlsPolicy NoPolicy => new("ok.example", TlsPolicyMode.Opportunistic, TlsPolicySource.Dns, "no policy");

    void Start()
    {
        var reporter = Reporter(_recorder);
        _recorder.Success(NoPolicy);
        _running = reporter.RunAsync(_stop.Token);
    }

    /// <summary>smtpd stopped at <paramref name="at"/> with one session counted: its counts are in the state file.</summary>
    async Task RunAndStopAsync(string state, DateTimeOffset at)
    {
        var recorder = new TlsRptRecorder();
        using var stop = new CancellationTokenSource();
        var running = Reporter(recorder, state).RunAsync(stop.Token);
        recorder.Success(NoPolicy);
        _clock.SetUtcNow(at);
        await Task.Delay(50);
        stop.Cancel();
        await running.WaitAsync(Bound);
        Assert.True(File.Exists(state));
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_running is not null) await _running.WaitAsync(Bound);
        _stop.Dispose();
    }

    /// <summary>
    /// Moves the clock on in steps up to <paramref name="until"/>, then waits (bounded) for <paramref name="count"/> POSTs.
    /// Steps, not one jump: the reporter may not have started its next wait yet when the test moves the clock.
    /// </summary>
    async Task AdvanceAsync(DateTimeOffset until, int count, TimeSpan step)
    {
        while (_clock.GetUtcNow() < until)
        {
            _clock.Advance(TimeSpan.FromTicks(Math.Min(step.Ticks, (until - _clock.GetUtcNow()).Ticks)));
            await Task.Delay(2);
        }
        var deadline = DateTime.UtcNow + Bound;
        while (_endpoint.Posts.Count < count)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{_endpoint.Posts.Count} POST(s), not {count}, at {_clock.GetUtcNow():O}");
            await Task.Delay(10);
        }
    }

    static JsonElement Parse(byte[] gzip)
    {
        using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
        return JsonDocument.Parse(input).RootElement.Clone();
    }

    [Fact]
    public async Task The_report_comes_at_midnight_utc_and_covers_that_utc_day()
    {
        Start(); // its wait for midnight has begun when this returns: the clock may jump
        _clock.SetUtcNow(Midnight - TimeSpan.FromSeconds(1));
        await Task.Delay(200);
        Assert.Empty(_endpoint.Posts); // nothing before the day is over
        await AdvanceAsync(Midnight, 1, TimeSpan.FromSeconds(1));

        var (body, at) = Assert.Single(_endpoint.Posts);
        Assert.Equal(Midnight, at);
        var report = Parse(body);
        Assert.Equal("2026-12-07T00:00:00Z", report.GetProperty("date-range").GetProperty("start-datetime").GetString());
        Assert.Equal("2026-12-08T00:00:00Z", report.GetProperty("date-range").GetProperty("end-datetime").GetString());
        var policy = Assert.Single(report.GetProperty("policies").EnumerateArray());
        Assert.Equal("ok.example", policy.GetProperty("policy").GetProperty("policy-domain").GetString());
        Assert.Equal(1, policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());

        // The next day's session is in the next day's report, and only there.
        _recorder.Success(new OutboundTlsPolicy("ok.example", TlsPolicyMode.Opportunistic, TlsPolicySource.Dns, "no policy"));
        await AdvanceAsync(Midnight.AddDays(1), 2, TimeSpan.FromMinutes(5));
        var next = Parse(_endpoint.Posts[1].Body);
        Assert.Equal("2026-12-08T00:00:00Z", next.GetProperty("date-range").GetProperty("start-datetime").GetString());
        Assert.Equal("2026-12-09T00:00:00Z", next.GetProperty("date-range").GetProperty("end-datetime").GetString());
        Assert.Equal(1, Assert.Single(next.GetProperty("policies").EnumerateArray()).GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());
    }

    [Fact]
    public async Task A_post_that_fails_is_tried_again_a_minute_later_with_the_same_report()
    {
        _endpoint.Failures = 1;
        Start();
        _clock.SetUtcNow(Midnight);
        await AdvanceAsync(Midnight, 1, TimeSpan.FromSeconds(5));
        await AdvanceAsync(Midnight.AddMinutes(2), 2, TimeSpan.FromSeconds(5));

        var posts = _endpoint.Posts;
        Assert.Equal(2, posts.Count);
        Assert.InRange(posts[1].At - posts[0].At, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2));
        Assert.Equal(posts[0].Body, posts[1].Body);
    }

    [Fact]
    public async Task A_rua_lookup_without_answer_is_asked_again_a_minute_later_and_the_report_still_goes()
    {
        _dns.Failures = 1;
        Start();
        _clock.SetUtcNow(Midnight);
        await Task.Delay(200);
        Assert.Empty(_endpoint.Posts);
        await AdvanceAsync(Midnight.AddMinutes(2), 1, TimeSpan.FromSeconds(5));

        var (body, at) = Assert.Single(_endpoint.Posts);
        Assert.InRange(at - Midnight, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2));
        Assert.Equal("2026-12-07T00:00:00Z", Parse(body).GetProperty("date-range").GetProperty("start-datetime").GetString());
    }

    [Fact]
    public async Task The_days_counts_outlive_a_restart_and_join_the_report_at_midnight()
    {
        string state = Path.Combine(Directory.CreateTempSubdirectory("tlsrpt-state-").FullName, "tls-rpt.json");
        await RunAndStopAsync(state, Started.AddHours(7));

        // Started again the same day: one more session; at midnight the report counts both.
        _running = Reporter(_recorder, state).RunAsync(_stop.Token);
        _recorder.Success(NoPolicy);
        await AdvanceAsync(Midnight, 1, TimeSpan.FromMinutes(5));
        var report = Parse(Assert.Single(_endpoint.Posts).Body);
        Assert.Equal("2026-12-07T00:00:00Z", report.GetProperty("date-range").GetProperty("start-datetime").GetString());
        var policy = Assert.Single(report.GetProperty("policies").EnumerateArray());
        Assert.Equal(2, policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());
    }

    [Fact]
    public async Task A_day_that_ended_while_smtpd_was_down_is_reported_at_the_next_start_once()
    {
        string state = Path.Combine(Directory.CreateTempSubdirectory("tlsrpt-state-").FullName, "tls-rpt.json");
        await RunAndStopAsync(state, Started.AddHours(7));

        // Down over midnight; started at 02:00Z: the ended day is reported at once, with its own dates.
        _clock.SetUtcNow(Midnight.AddHours(2));
        _running = Reporter(_recorder, state).RunAsync(_stop.Token);
        await AdvanceAsync(Midnight.AddHours(2), 1, TimeSpan.FromSeconds(1));
        var report = Parse(Assert.Single(_endpoint.Posts).Body);
        Assert.Equal("2026-12-07T00:00:00Z", report.GetProperty("date-range").GetProperty("start-datetime").GetString());
        Assert.Equal("2026-12-08T00:00:00Z", report.GetProperty("date-range").GetProperty("end-datetime").GetString());
        Assert.Equal(1, Assert.Single(report.GetProperty("policies").EnumerateArray()).GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());

        // Not again at the next start, nor in the next day's report.
        _stop.Cancel();
        await _running.WaitAsync(Bound);
        using var again = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = Reporter(new TlsRptRecorder(), state).RunAsync(again.Token);
        await Task.Delay(300);
        Assert.Single(_endpoint.Posts);
        again.Cancel();
        await running.WaitAsync(Bound);
    }

    [Fact]
    public async Task An_unreadable_state_file_is_set_aside_and_the_reporter_goes_on()
    {
        // An admin's edit, a disk fault: the file is not JSON. The reporter warns, keeps the file
        // for inspection as .bad, and reports the day's sessions at midnight as if none were saved.
        string state = Path.Combine(Directory.CreateTempSubdirectory("tlsrpt-state-").FullName, "tls-rpt.json");
        File.WriteAllText(state, "{ not json");
        _running = Reporter(_recorder, state).RunAsync(_stop.Token);
        _recorder.Success(NoPolicy);
        await AdvanceAsync(Midnight, 1, TimeSpan.FromMinutes(5));
        Assert.Equal("{ not json", File.ReadAllText(state + ".bad"));
        var report = Parse(Assert.Single(_endpoint.Posts).Body);
        Assert.Equal(1, Assert.Single(report.GetProperty("policies").EnumerateArray()).GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());
    }
}
