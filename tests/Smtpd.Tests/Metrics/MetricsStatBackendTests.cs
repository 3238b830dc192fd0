using System.Net;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Lookup.Dns;
using Smtpd.Metrics;
using Smtpd.Stats;

namespace Smtpd.Tests.Metrics;

/// <summary>
/// The metrics backend in front of the ram backend: flat statistics unchanged (what
/// <c>smtpctl show stats</c> prints), and every labelled event in its family, as scraped.
/// </summary>
public class MetricsStatBackendTests
{
    static async Task<Dictionary<string, double>> ScrapeAsync(SmtpdMetrics metrics)
    {
        using var text = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(text);
        return MetricsScrape.Samples(System.Text.Encoding.UTF8.GetString(text.ToArray()));
    }

    [Fact]
    public async Task Flat_statistics_go_to_the_stored_backend_unchanged_and_feed_the_families_read_at_scrape()
    {
        var ram = new RamStatBackend();
        var metrics = new SmtpdMetrics(ram, spool: null);
        IStatBackend stats = new MetricsStatBackend(ram, metrics);
        stats.Increment(StatKeys.Bounce, 2);
        stats.Increment(StatKeys.EnvelopeExpired);
        stats.Gauge(StatKeys.MtaSession, () => 3);

        Assert.Equal(2, ram.Snapshot()[StatKeys.Bounce].Value);
        Assert.Equal(3, stats.Snapshot()[StatKeys.MtaSession].Value);
        var s = await ScrapeAsync(metrics);
        Assert.Equal(2, s.Value("smtpd_bounces_total"));
        Assert.Equal(1, s.Value("smtpd_expired_total"));
        Assert.False(s.ContainsKey("smtpd_spool_free_bytes")); // no spool on disk: not reported
    }

    [Fact]
    public async Task The_queue_families_come_from_the_scheduler_at_each_scrape()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T12:00:00Z"));
        var metrics = new SmtpdMetrics(new RamStatBackend(), spool: null);
        var scheduler = new Smtpd.Scheduler.RamScheduler();
        metrics.ReadQueueFrom(_ => Task.FromResult(scheduler.Summary()), time);
        var s = await ScrapeAsync(metrics);
        Assert.Equal(0, s.Value("smtpd_queue_envelopes{state=\"pending\"}"));
        Assert.Equal(0, s.Value("smtpd_queue_oldest_seconds"));

        void Add(uint msgid, TimeSpan age)
        {
            scheduler.Insert(new Smtpd.Scheduler.SchedulerInfo((ulong)msgid << 32 | 1, Smtpd.Queue.EnvelopeType.Mta, time.GetUtcNow() - age, 4 * 86400, 0, null));
            scheduler.Commit(msgid);
        }
        Add(5, TimeSpan.FromDays(1));
        scheduler.Batch(time.GetUtcNow(), 10);
        scheduler.Remove((ulong)5 << 32); // removed by the admin while in flight: not counted
        Add(3, TimeSpan.FromSeconds(30));
        scheduler.Batch(time.GetUtcNow(), 10);
        Add(1, TimeSpan.FromMinutes(5));
        Add(2, TimeSpan.FromMinutes(1));
        Add(4, TimeSpan.FromHours(2));
        scheduler.Suspend((ulong)4 << 32);
        s = await ScrapeAsync(metrics);
        Assert.Equal(2, s.Value("smtpd_queue_envelopes{state=\"pending\"}"));
        Assert.Equal(1, s.Value("smtpd_queue_envelopes{state=\"inflight\"}"));
        Assert.Equal(1, s.Value("smtpd_queue_envelopes{state=\"suspended\"}"));
        Assert.Equal(0, s.Value("smtpd_queue_envelopes{state=\"held\"}"));
        Assert.Equal(7200, s.Value("smtpd_queue_oldest_seconds"));
    }

    [Fact]
    public async Task Labelled_events_are_counted_in_their_families()
    {
        var ram = new RamStatBackend();
        var metrics = new SmtpdMetrics(ram, spool: Path.GetTempPath());
        long held = 0;
        metrics.CountHeldAccepts(() => held);
        IStatBackend stats = new MetricsStatBackend(ram, metrics);

        stats.Session("in", +1);
        stats.Session("in", +1);
        stats.Session("in", -1);
        stats.Session("submission", +1);
        stats.Command("EHLO", 250);
        stats.Command("RCPT", 550);
        stats.Command("RCPT", 451);
        stats.Command("RCPT", 250);
        stats.MessageReceived("in", 500);
        stats.MessageReceived("in", 5000);
        stats.Delivery("mda", OutcomeKind.Ok, TimeSpan.FromSeconds(2));
        stats.Delivery("lmtp", OutcomeKind.TempFail, TimeSpan.FromSeconds(9));
        stats.Delivery("mta", OutcomeKind.PermFail, TimeSpan.FromSeconds(3));
        stats.TlsSession("in", "TLSv1.3");
        stats.TlsSession("out", "TLSv1.2");
        stats.Auth(OutcomeKind.Ok);
        stats.Auth(OutcomeKind.PermFail);
        stats.Auth(OutcomeKind.PermFail);
        stats.FilterVerdict("spam", "reject");
        stats.FilterVerdict("spam", "proceed");
        stats.DnsLookup("mx", TimeSpan.FromMilliseconds(20));
        held = 4;

        var s = await ScrapeAsync(metrics);
        Assert.Equal(2, s.Value("smtpd_sessions_total{listener=\"in\"}"));
        Assert.Equal(1, s.Value("smtpd_sessions_active{listener=\"in\"}"));
        Assert.Equal(1, s.Value("smtpd_sessions_active{listener=\"submission\"}"));
        Assert.Equal(1, s.Value("smtpd_commands_total{verb=\"EHLO\",class=\"2xx\"}"));
        Assert.Equal(1, s.Value("smtpd_commands_total{verb=\"RCPT\",class=\"5xx\"}"));
        Assert.Equal(1, s.Value("smtpd_commands_total{verb=\"RCPT\",class=\"4xx\"}"));
        Assert.Equal(2, s.Value("smtpd_messages_received_total{listener=\"in\"}"));
        Assert.Equal(5500, s.Value("smtpd_message_size_bytes_sum"));
        Assert.Equal(1, s.Value("smtpd_message_size_bytes_bucket{le=\"1024\"}"));
        Assert.Equal(1, s.Value("smtpd_deliveries_total{transport=\"mda\",result=\"ok\"}"));
        Assert.Equal(1, s.Value("smtpd_deliveries_total{transport=\"lmtp\",result=\"tempfail\"}"));
        Assert.Equal(1, s.Value("smtpd_deliveries_total{transport=\"mta\",result=\"permfail\"}"));
        // A temporary failure is not a final result: no delay observed for it.
        Assert.Equal(2, s.Value("smtpd_delivery_delay_seconds_sum{transport=\"mda\"}"));
        Assert.Equal(3, s.Value("smtpd_delivery_delay_seconds_sum{transport=\"mta\"}"));
        Assert.False(s.ContainsKey("smtpd_delivery_delay_seconds_count{transport=\"lmtp\"}"));
        Assert.Equal(1, s.Value("smtpd_tls_sessions_total{direction=\"in\",version=\"TLSv1.3\"}"));
        Assert.Equal(1, s.Value("smtpd_tls_sessions_total{direction=\"out\",version=\"TLSv1.2\"}"));
        Assert.Equal(1, s.Value("smtpd_auth_total{result=\"ok\"}"));
        Assert.Equal(0, s.Value("smtpd_auth_total{result=\"tempfail\"}"));
        Assert.Equal(2, s.Value("smtpd_auth_total{result=\"permfail\"}"));
        Assert.Equal(1, s.Value("smtpd_filter_verdicts_total{filter=\"spam\",verdict=\"reject\"}"));
        Assert.Equal(1, s.Value("smtpd_filter_verdicts_total{filter=\"spam\",verdict=\"proceed\"}"));
        Assert.Equal(1, s.Value("smtpd_dns_lookup_seconds_count{type=\"mx\"}"));
        Assert.Equal(0.02, s.Value("smtpd_dns_lookup_seconds_sum{type=\"mx\"}"), 6);
        Assert.Equal(4, s.Value("smtpd_fd_reserve_holds_total"));
        Assert.True(s.Value("smtpd_spool_free_bytes") > 0);
    }

    [Fact]
    public void An_event_allocates_nothing_once_its_labels_have_been_seen()
    {
        var ram = new RamStatBackend();
        IStatBackend stats = new MetricsStatBackend(ram, new SmtpdMetrics(ram, spool: null));
        void Events()
        {
            stats.Session("in", +1);
            stats.Command("RCPT", 250);
            stats.MessageReceived("in", 1234);
            stats.Delivery("mta", OutcomeKind.Ok, TimeSpan.FromSeconds(1));
            stats.TlsSession("in", "TLSv1.3");
            stats.Auth(OutcomeKind.Ok);
            stats.FilterVerdict("spam", "proceed");
            stats.DnsLookup("mx", TimeSpan.FromMilliseconds(3));
            stats.Session("in", -1);
        }
        // First sight of each label set makes its children; the runtime's tiering settles too.
        for (int i = 0; i < 1000; i++) Events();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) Events();
        // Less than a byte per event: nothing is allocated per increment (one closure or boxed
        // value each time would be 90,000 of them).
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1024);
    }

    sealed class SlowResolver(FakeTimeProvider time) : IDnsResolver
    {
        public Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct)
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            return Task.FromResult<MxLookup>(new MxLookup.Temporary("timeout"));
        }

        public Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct)
        {
            time.Advance(TimeSpan.FromSeconds(2));
            return Task.FromException<IReadOnlyList<IPAddress>>(new DnsTempFailException("SERVFAIL"));
        }

        public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Dns_lookups_are_timed_by_type_failures_included()
    {
        var time = new FakeTimeProvider();
        var ram = new RamStatBackend();
        var metrics = new SmtpdMetrics(ram, spool: null);
        var dns = new TimedDnsResolver(new SlowResolver(time), new MetricsStatBackend(ram, metrics), time);

        Assert.IsType<MxLookup.Temporary>(await dns.LookupMxAsync("example.org", default));
        await Assert.ThrowsAsync<DnsTempFailException>(() => dns.ResolveHostAsync("mx.example.org", default));

        var s = await ScrapeAsync(metrics);
        Assert.Equal(0.25, s.Value("smtpd_dns_lookup_seconds_sum{type=\"mx\"}"), 6);
        Assert.Equal(2, s.Value("smtpd_dns_lookup_seconds_sum{type=\"a\"}"), 6);
        Assert.Equal(1, s.Value("smtpd_dns_lookup_seconds_bucket{type=\"a\",le=\"+Inf\"}"));
        Assert.Equal(0, s.Value("smtpd_dns_lookup_seconds_bucket{type=\"a\",le=\"1.024\"}"));
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text; version=1.0.0\r\n", "GET", "/metrics", "application/openmetrics-text; version=1.0.0")]
    [InlineData("GET /metrics?x=1 HTTP/1.0", "GET", "/metrics", null)]
    [InlineData("HEAD / HTTP/1.1\r\naccept:text/plain", "HEAD", "/", "text/plain")]
    public void Request_heads_are_read(string head, string method, string path, string? accept)
    {
        var parsed = HttpRequestHead.Parse(head);
        Assert.NotNull(parsed);
        Assert.Equal((method, path, accept), (parsed.Method, parsed.Path, parsed.Accept));
    }

    [Theory]
    [InlineData("GET /metrics")]
    [InlineData("GET /metrics SMTP/1.0")]
    [InlineData("")]
    public void Malformed_request_lines_are_refused(string head) => Assert.Null(HttpRequestHead.Parse(head));
}
