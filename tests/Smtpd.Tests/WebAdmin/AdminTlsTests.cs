using System.Net;
using System.Text;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.WebAdmin;

// admin listen on ... tls pki NAME: the page and the API over HTTPS with that pki's certificate;
// plain HTTP on the same port gets no page.
public sealed class AdminTlsTests
{
    [Fact]
    public async Task With_tls_pki_the_admin_page_is_served_over_https_with_that_certificate()
    {
        int port = SmtpdInstance.FreePort();
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        var certificate = TestCertificates.Write(smtpd.Dir, "admin", "localhost");
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "admins"), (AdminSite.User, AdminSite.Password));
        smtpd.WriteConfig($$"""
            pki admin cert "{dir}/admin.crt"
            pki admin key "{dir}/admin.key"
            table admins file:{dir}/admins
            admin listen on 127.0.0.1 port {{port}} auth <admins> tls pki admin
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        Assert.Contains($"admin page served on https://127.0.0.1:{port}/", smtpd.Log);

        string? seen = null;
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, _, _) => (seen = cert?.Thumbprint) == certificate.Thumbprint,
        };
        using var client = new HttpClient(handler) { BaseAddress = new Uri($"https://localhost:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/stats")).StatusCode);
        client.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{AdminSite.User}:{AdminSite.Password}")));
        var reply = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        Assert.Contains("id=\"graphs\"", await reply.Content.ReadAsStringAsync());
        Assert.Equal(certificate.Thumbprint, seen);

        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync($"http://127.0.0.1:{port}/"));
    }

    [Fact]
    public async Task Smtpd_n_checks_the_admin_pki_key_and_names_the_file()
    {
        var dir = Directory.CreateTempSubdirectory("smtpd-admin-pki-").FullName;
        try
        {
            TestCertificates.Write(dir, "admin", "localhost");
            await CredentialsTable.WriteAsync(Path.Combine(dir, "admins"), (AdminSite.User, AdminSite.Password));
            string path = Path.Combine(dir, "smtpd.conf");
            string Config(string key) => $$"""
                pki admin cert "{{dir}}/admin.crt"
                pki admin key "{{dir}}/{{key}}"
                table admins file:{{dir}}/admins
                admin listen on 127.0.0.1 port 9155 auth <admins> tls pki admin
                listen on 127.0.0.1 port 2525
                action "local" maildir
                match from local for local action "local"
                """;
            File.WriteAllText(path, Config("admin.key"));
            var (code, stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
            Assert.True(code == 0, stderr);
            Assert.Equal("configuration OK", stdout.Trim());

            // The admin page's key is missing: -n names it and the pki's line, as for a listener's.
            File.WriteAllText(path, Config("missing.key"));
            (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
            Assert.Equal(1, code);
            Assert.Contains($"{path}:1:", stderr); // where pki admin is declared, as for a listener's pki
            Assert.Contains($"{dir}/missing.key", stderr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
