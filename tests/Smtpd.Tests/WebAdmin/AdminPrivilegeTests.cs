using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Privsep;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.WebAdmin;

// smtpd started as root: the admin socket is bound before privileges are dropped (a port below
// 1024 serves once the daemon runs as _smtpd), and the graphs' samples, written to stats.sqlite
// by the unprivileged daemon, are there after a restart.
public sealed class AdminPrivilegeTests
{
    [SkippableFact]
    public async Task A_port_below_1024_serves_after_the_privilege_drop_and_the_samples_are_kept()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root: ports below 1024 and the privilege drop");
        int port = PrivilegedReloadTests.FreePrivilegedPort();
        var smtpd = new SmtpdInstance($$"""
            table admins file:{dir}/admins
            admin listen on 127.0.0.1 port {{port}} auth <admins>
            listen on 127.0.0.1 port {port}
            action "dead" relay host smtp://127.0.0.2:{{SmtpdInstance.FreePort()}}
            match from local for any action "dead"
            """);
        await using var _ = smtpd;
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "admins"), (AdminSite.User, AdminSite.Password));
        smtpd.Environment["SMTPD_ADMIN_SAMPLE_INTERVAL"] = "1";
        smtpd.Environment["SMTPD_STATS"] = "sqlite";
        await smtpd.StartAsync();
        Assert.Contains("info: running as ", smtpd.Log);
        Assert.Contains($"info: admin page served on http://127.0.0.1:{port}/", smtpd.Log);
        var site = new AdminSite { Smtpd = smtpd, Port = port };
        await site.SendAsync("alice@example.org", "bob@far.example");
        await site.SendAsync("dave@example.net", "erin@other.example");

        int samples;
        using (var client = site.Client())
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            string page;
            while (AdminGraphTests.Points(page = await client.GetStringAsync("/"), "graph-messages", "in") is var points && (points.Count < 3 || points.Sum() != 2))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the two messages never drawn:\n{page}");
                await Task.Delay(250);
            }
            // Those drawn from the samples already written (the last point is the page's own reading).
            samples = AdminGraphTests.Points(page, "graph-messages", "in").Count - 1;
        }

        await smtpd.StopAsync();
        await smtpd.StartAsync();
        using (var client = site.Client())
        {
            string page = await client.GetStringAsync("/");
            Assert.Equal(2, AdminGraphTests.Points(page, "graph-messages", "in").Sum());
            Assert.True(AdminGraphTests.Points(page, "graph-messages", "in").Count > samples, page);
        }
    }
}
