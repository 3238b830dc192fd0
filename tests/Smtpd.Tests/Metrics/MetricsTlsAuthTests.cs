using System.Text;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.Metrics;

// client --STARTTLS, AUTH PLAIN (one wrong password, then the right one)--> smtpd with metrics on:
// the TLS sessions and AUTH results are what /metrics says.
public sealed class MetricsTlsAuthTests
{
    static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public async Task Tls_sessions_and_auth_results_are_counted()
    {
        int metricsPort = SmtpdInstance.FreePort();
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"));
        smtpd.WriteConfig($$"""
            metrics listen on 127.0.0.1 port {{metricsPort}}
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            table creds file:{dir}/creds
            listen on 127.0.0.1 port {port} tls pki tlscert auth <creds> tag submission
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        await smtpd.StartAsync();

        for (int i = 0; i < 2; i++)
        {
            await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            Assert.StartsWith("220", await d.CommandAsync("STARTTLS"));
            await d.StartTlsAsync();
            Assert.Contains("AUTH PLAIN", await d.CommandAsync("EHLO client.example"));
            if (i == 0) Assert.StartsWith("535", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wrong")));
            else Assert.StartsWith("235", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
            Assert.StartsWith("221", await d.CommandAsync("QUIT"));
        }

        var (status, _, body) = await MetricsScrape.GetAsync(metricsPort);
        Assert.Equal("HTTP/1.1 200 OK", status);
        var s = MetricsScrape.Samples(body);
        double tls = s.Where(kv => kv.Key.StartsWith("smtpd_tls_sessions_total{direction=\"in\",version=\"TLSv1.", StringComparison.Ordinal)).Sum(kv => kv.Value);
        Assert.Equal(2, tls);
        Assert.Equal(1, s.Value("smtpd_auth_total{result=\"ok\"}"));
        Assert.Equal(1, s.Value("smtpd_auth_total{result=\"permfail\"}"));
        Assert.Equal(0, s.Value("smtpd_auth_total{result=\"tempfail\"}"));
        Assert.Equal(2, s.Value("smtpd_commands_total{verb=\"STARTTLS\",class=\"2xx\"}"));
        Assert.Equal(1, s.Value("smtpd_commands_total{verb=\"AUTH\",class=\"2xx\"}"));
        Assert.Equal(1, s.Value("smtpd_commands_total{verb=\"AUTH\",class=\"5xx\"}"));
        Assert.Equal(2, s.Value("smtpd_sessions_total{listener=\"submission\"}"));
    }
}
