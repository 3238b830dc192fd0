using System.Text.RegularExpressions;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Metrics;

// GET /metrics on `metrics listen on`, checked against a traffic run with known counts:
//
//   client --SMTP--> smtpd (listener tag "in", metrics on loopback)
//                      |-- 60 x local user  --> maildir                          (mda ok)
//                      |-- 30 x accepted.example --> peer smtpd --> its maildir  (mta ok)
//                      '-- 10 x refused.example --> peer says 550                (mta permfail)
//                              '-> 10 bounces to the local sender --> maildir    (mda ok)
public sealed class MetricsEndpointTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    static async Task<(SmtpdInstance Peer, SmtpdInstance Smtpd, int MetricsPort)> StartAsync()
    {
        var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "accepted.example" action "local"
            """);
        await peer.StartAsync();
        int metricsPort = SmtpdInstance.FreePort();
        var smtpd = new SmtpdInstance($$"""
            metrics listen on 127.0.0.1 port {{metricsPort}}
            listen on 127.0.0.1 port {port} tag in
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        return (peer, smtpd, metricsPort);
    }

    /// <summary>One session, one message, then QUIT; <paramref name="junk"/> adds a command the server refuses (500).</summary>
    static async Task SendAsync(int port, string rcpt, int n, bool junk = false)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
        if (junk) Assert.StartsWith("500", await d.CommandAsync("FROBNICATE"));
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{TestUsers.Recipient}@localhost>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: message {n}\r\n\r\n{new string('x', 100 * n)}\r\n."));
        Assert.StartsWith("221", await d.CommandAsync("QUIT"));
    }

    [Fact]
    public async Task A_traffic_run_with_known_counts_is_what_the_metrics_say_family_by_family()
    {
        var (peer, smtpd, metricsPort) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;

        const int Local = 60, Relayed = 30, Refused = 10, Received = Local + Relayed + Refused;
        int n = 0;
        for (int i = 0; i < Local; i++) await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost", ++n, junk: i == 0);
        for (int i = 0; i < Relayed; i++) await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@accepted.example", ++n);
        for (int i = 0; i < Refused; i++) await SendAsync(smtpd.Port, $"nobody{i}@refused.example", ++n);

        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), Local + Refused, Timeout);
        await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, TestUsers.Recipient), Relayed, Timeout);
        // The outcome reaches the queue (and its counters) just after the mail reaches the maildir.
        var samples = await ScrapeUntilAsync(metricsPort, s => s.GetValueOrDefault("smtpd_deliveries_total{transport=\"mda\",result=\"ok\"}") >= Local + Refused
            && s.GetValueOrDefault("smtpd_queue_envelopes{state=\"pending\"}", -1) == 0 && s.GetValueOrDefault("smtpd_sessions_active{listener=\"in\"}", -1) == 0);

        // Sessions and commands.
        Assert.Equal(Received, samples.Value("smtpd_sessions_total{listener=\"in\"}"));
        Assert.Equal(0, samples.Value("smtpd_sessions_active{listener=\"in\"}"));
        foreach (var verb in new[] { "EHLO", "MAIL", "RCPT", "DATA", "QUIT" })
            Assert.Equal(Received, samples.Value($"smtpd_commands_total{{verb=\"{verb}\",class=\"2xx\"}}"));
        Assert.Equal(1, samples.Value("smtpd_commands_total{verb=\"unknown\",class=\"5xx\"}"));

        // Messages received, and their sizes as the log gives them.
        Assert.Equal(Received, samples.Value("smtpd_messages_received_total{listener=\"in\"}"));
        var sizes = Regex.Matches(smtpd.Log, @"smtp message msgid=\w+ size=(\d+)").Select(m => long.Parse(m.Groups[1].Value)).ToList();
        Assert.Equal(Received, sizes.Count);
        Assert.Equal(Received, samples.Value("smtpd_message_size_bytes_count"));
        Assert.Equal(sizes.Sum(), samples.Value("smtpd_message_size_bytes_sum"));
        Assert.Equal(sizes.Count(s => s <= 1024), samples.Value("smtpd_message_size_bytes_bucket{le=\"1024\"}"));
        Assert.Equal(Received, samples.Value("smtpd_message_size_bytes_bucket{le=\"+Inf\"}"));

        // Deliveries: the local ones and the bounces by the MDA, the relayed and refused ones by the MTA.
        Assert.Equal(Local + Refused, samples.Value("smtpd_deliveries_total{transport=\"mda\",result=\"ok\"}"));
        Assert.Equal(Relayed, samples.Value("smtpd_deliveries_total{transport=\"mta\",result=\"ok\"}"));
        Assert.Equal(Refused, samples.Value("smtpd_deliveries_total{transport=\"mta\",result=\"permfail\"}"));
        Assert.False(samples.ContainsKey("smtpd_deliveries_total{transport=\"mta\",result=\"tempfail\"}"));
        Assert.Equal(Local + Refused, samples.Value("smtpd_delivery_delay_seconds_count{transport=\"mda\"}"));
        Assert.Equal(Relayed + Refused, samples.Value("smtpd_delivery_delay_seconds_count{transport=\"mta\"}"));
        Assert.InRange(samples.Value("smtpd_delivery_delay_seconds_sum{transport=\"mta\"}"), 0, (Relayed + Refused) * Timeout.TotalSeconds);

        Assert.Equal(Refused, samples.Value("smtpd_bounces_total"));
        Assert.Equal(0, samples.Value("smtpd_expired_total"));
        Assert.Equal(0, samples.Value("smtpd_queue_envelopes{state=\"pending\"}"));
        Assert.Equal(0, samples.Value("smtpd_queue_envelopes{state=\"inflight\"}"));
        Assert.Equal(0, samples.Value("smtpd_queue_envelopes{state=\"suspended\"}"));
        Assert.Equal(0, samples.Value("smtpd_queue_oldest_seconds"));
        Assert.True(samples.Value("smtpd_spool_free_bytes") > 0);

        // The runtime's process metrics.
        Assert.True(samples.Value("process_working_set_bytes") > 0);
        Assert.True(samples.Value("process_num_threads") > 0);
        Assert.Contains(samples.Keys, k => k.StartsWith("dotnet_collection_count_total", StringComparison.Ordinal));

        // smtpctl show stats counts from the same source: its figures agree.
        var (code, stats) = await Smtpd.Tests.Control.Smtpctl.RunAsync(smtpd, "show", "stats");
        Assert.Equal(0, code);
        Assert.Contains($"queue.bounce={Refused}", stats);
        Assert.Contains($"scheduler.delivery.ok={Local + Refused + Relayed}", stats);
        Assert.Contains($"scheduler.delivery.permfail={Refused}", stats);
    }

    static async Task<Dictionary<string, double>> ScrapeUntilAsync(int port, Func<Dictionary<string, double>, bool> done)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var (status, _, body) = await MetricsScrape.GetAsync(port);
            Assert.Equal("HTTP/1.1 200 OK", status);
            var samples = MetricsScrape.Samples(body);
            if (done(samples) || DateTime.UtcNow > deadline) return samples;
            await Task.Delay(100);
        }
    }

    [SkippableFact]
    public async Task The_output_passes_promtool_check_metrics_and_OpenMetrics_is_served_when_asked()
    {
        var (peer, smtpd, metricsPort) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost", 1);
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);

        var (status, type, text) = await MetricsScrape.GetAsync(metricsPort, accept: "text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
        Assert.Equal("HTTP/1.1 200 OK", status);
        Assert.StartsWith("text/plain; version=0.0.4", type);
        Assert.Contains("# TYPE smtpd_deliveries_total counter", text);
        Assert.DoesNotContain("# EOF", text);

        (status, type, var openMetrics) = await MetricsScrape.GetAsync(metricsPort,
            accept: "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
        Assert.Equal("HTTP/1.1 200 OK", status);
        Assert.StartsWith("application/openmetrics-text; version=1.0.0", type);
        Assert.EndsWith("# EOF\n", openMetrics);
        Assert.Contains("smtpd_messages_received_total{listener=\"in\"} 1", openMetrics);

        Skip.IfNot(ExternalTool.Exists("promtool"), "promtool is not installed (Debian package prometheus; tests/install-peers.sh)");
        var (code, output) = await ExternalTool.RunAsync("promtool", ["check", "metrics"], text);
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task Other_paths_and_methods_and_oversized_requests_are_refused()
    {
        int metricsPort = SmtpdInstance.FreePort();
        var smtpd = new SmtpdInstance($$"""
            metrics listen on 127.0.0.1 port {{metricsPort}}
            listen on 127.0.0.1 port {port}
            action "local" maildir
            match from local for local action "local"
            """);
        await using var _ = smtpd;
        await smtpd.StartAsync();

        Assert.Equal("HTTP/1.1 404 Not Found", (await MetricsScrape.GetAsync(metricsPort, path: "/")).Status);
        Assert.StartsWith("HTTP/1.1 405", await MetricsScrape.RawAsync(metricsPort, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 400", await MetricsScrape.RawAsync(metricsPort, "GET /metrics HTTP/1.1\r\nX-Padding: " + new string('a', 10_000) + "\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 400", await MetricsScrape.RawAsync(metricsPort, "hello\r\n\r\n"));
        Assert.Equal("HTTP/1.1 200 OK", (await MetricsScrape.GetAsync(metricsPort)).Status);
    }

    [Fact]
    public async Task Without_the_statement_nothing_listens_and_a_reload_that_adds_it_is_refused()
    {
        int metricsPort = SmtpdInstance.FreePort();
        const string Base = """
            listen on 127.0.0.1 port {port}
            action "local" maildir
            match from local for local action "local"
            """;
        var smtpd = new SmtpdInstance(Base);
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.DoesNotContain("metrics served", smtpd.Log);
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => MetricsScrape.RawAsync(metricsPort, "GET /metrics HTTP/1.1\r\n\r\n"));

        var (code, output) = await ReloadTests.ReloadAsync(smtpd, $"metrics listen on 127.0.0.1 port {metricsPort}\n" + Base);
        Assert.Equal(1, code);
        Assert.Contains("metrics listen on cannot change while smtpd runs: restart smtpd", output);
        Assert.Contains("configuration not reloaded", output);
    }

    [Fact]
    public async Task A_reload_keeping_the_line_goes_through_and_one_moving_it_is_refused()
    {
        int metricsPort = SmtpdInstance.FreePort(), otherPort = SmtpdInstance.FreePort();
        string Config(int port, string domain) => $$"""
            metrics listen on 127.0.0.1 port {{port}}
            listen on 127.0.0.1 port {port}
            action "local" maildir
            match from any for domain "{{domain}}" action "local"
            """;
        var smtpd = new SmtpdInstance(Config(metricsPort, "example.org"));
        await using var _ = smtpd;
        await smtpd.StartAsync();

        var (code, output) = await ReloadTests.ReloadAsync(smtpd, Config(metricsPort, "example.net"));
        Assert.True(code == 0, output);
        Assert.Equal("HTTP/1.1 200 OK", (await MetricsScrape.GetAsync(metricsPort)).Status);

        (code, output) = await ReloadTests.ReloadAsync(smtpd, Config(otherPort, "example.net"));
        Assert.Equal(1, code);
        Assert.Contains("metrics listen on cannot change while smtpd runs: restart smtpd", output);
        Assert.Equal("HTTP/1.1 200 OK", (await MetricsScrape.GetAsync(metricsPort)).Status);
    }
}
