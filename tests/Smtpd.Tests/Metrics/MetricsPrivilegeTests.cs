using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Privsep;

namespace Smtpd.Tests.Metrics;

// smtpd started as root: the metrics socket is bound before privileges are dropped, so a port
// below 1024 serves once the daemon runs as _smtpd.
public sealed class MetricsPrivilegeTests
{
    [SkippableFact]
    public async Task A_metrics_port_below_1024_is_bound_before_the_privilege_drop_and_serves()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root: ports below 1024 and the privilege drop");
        int metricsPort = PrivilegedReloadTests.FreePrivilegedPort();
        var smtpd = new SmtpdInstance($$"""
            metrics listen on 127.0.0.1 port {{metricsPort}}
            listen on 127.0.0.1 port {port}
            action "local" maildir
            match from local for local action "local"
            """);
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.Contains("info: running as ", smtpd.Log);
        Assert.Contains($"info: metrics served on http://127.0.0.1:{metricsPort}/metrics", smtpd.Log);

        var (status, _, body) = await MetricsScrape.GetAsync(metricsPort);
        Assert.Equal("HTTP/1.1 200 OK", status);
        Assert.Contains("# TYPE smtpd_sessions_total counter", body);
    }
}
