using Smtpd.Tests.Control;

namespace Smtpd.Tests.EndToEnd;

// A certificate renewed on disk (certbot, acme-client) is served after `smtpctl reload`, with its
// key readable by root only, as such tools leave it: the daemon, no longer root, gets it through
// the privileged helper.
public sealed class ReloadCertificateTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task A_certificate_renewed_on_disk_is_served_after_a_reload()
    {
        Skip.IfNot(Mta.TestCa.Available, "openssl is not installed");
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        using var ca = Mta.TestCa.Create(Path.Combine(smtpd.Dir, "ca"));
        var first = ca.SelfSigned("first", "mx.example");
        var second = ca.SelfSigned("second", "mx.example");
        string cert = Path.Combine(smtpd.Dir, "mx.crt"), key = Path.Combine(smtpd.Dir, "mx.key");
        void Install((string Cert, string Key) pair)
        {
            File.Copy(pair.Cert, cert, overwrite: true);
            File.Copy(pair.Key, key, overwrite: true);
            // As certbot leaves a key: readable by root only.
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        Install(first);
        string config = ReloadTests.Local(1, """
            pki mx.example cert "{dir}/mx.crt"
            pki mx.example key "{dir}/mx.key"
            """).Replace("port {port}", "port {port} tls pki mx.example");
        smtpd.WriteConfig(config);
        await smtpd.StartAsync();
        Assert.Equal(Thumbprint(first.Cert), await ServedThumbprintAsync(smtpd.Port));

        Install(second);
        var (code, output) = await ReloadTests.ReloadAsync(smtpd, config);
        Assert.True(code == 0, output);
        Assert.Equal(Thumbprint(second.Cert), await ServedThumbprintAsync(smtpd.Port));
    }

    static string Thumbprint(string certFile) =>
        System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(certFile)).Thumbprint;

    static async Task<string> ServedThumbprintAsync(int port)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("220", await d.CommandAsync("STARTTLS"));
        var tls = await d.StartTlsAsync("mx.example");
        return new System.Security.Cryptography.X509Certificates.X509Certificate2(tls.RemoteCertificate!).Thumbprint;
    }

}
