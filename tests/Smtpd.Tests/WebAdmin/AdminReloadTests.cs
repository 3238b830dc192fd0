using System.Net;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.WebAdmin;

// The admin line is read at start only: a reload that keeps it goes through (and a password
// changed in its table is what the page checks from then on); one that moves it is refused.
public sealed class AdminReloadTests
{
    [Fact]
    public async Task A_reload_keeping_the_line_goes_through_and_one_moving_it_is_refused()
    {
        int port = SmtpdInstance.FreePort(), otherPort = SmtpdInstance.FreePort();
        string Config(int adminPort, string domain) => $$"""
            table admins file:{dir}/admins
            admin listen on 127.0.0.1 port {{adminPort}} auth <admins>
            listen on 127.0.0.1 port {port}
            action "local" maildir
            match from any for domain "{{domain}}" action "local"
            """;
        var smtpd = new SmtpdInstance(Config(port, "example.org"));
        await using var _ = smtpd;
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "admins"), (AdminSite.User, AdminSite.Password));
        await smtpd.StartAsync();
        var site = new AdminSite { Smtpd = smtpd, Port = port };

        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "admins"), (AdminSite.User, "changed"));
        var (code, output) = await ReloadTests.ReloadAsync(smtpd, Config(port, "example.net"));
        Assert.True(code == 0, output);
        using (var old = site.Client())
            Assert.Equal(HttpStatusCode.Unauthorized, (await old.GetAsync("/api/stats")).StatusCode);
        using var client = site.Client(AdminSite.User, "changed");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/stats")).StatusCode);

        (code, output) = await ReloadTests.ReloadAsync(smtpd, Config(otherPort, "example.net"));
        Assert.Equal(1, code);
        Assert.Contains("admin listen on cannot change while smtpd runs: restart smtpd", output);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/stats")).StatusCode);
    }
}
