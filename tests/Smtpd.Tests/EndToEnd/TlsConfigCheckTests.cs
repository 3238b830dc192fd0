using Smtpd.Tests.Tls;

namespace Smtpd.Tests.EndToEnd;

// `smtpd -n` reads certificates and keys too (seed 003) and names the file that is wrong.
public sealed class TlsConfigCheckTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-tls-conf-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // The seeds' "authenticating relay" example, as written.
    const string SeedAuthenticatingRelay = """
        listen on egress port submission tls \
                         certificate my.cert auth

        accept from any for domain "opensmtpd.org" \
                         deliver to maildir

        accept for any relay
        """;

    Task<(int Code, string Stdout, string Stderr)> CheckAsync(string config)
    {
        string path = Path.Combine(_dir, "smtpd.conf");
        File.WriteAllText(path, config.Replace("{dir}", _dir));
        return SmtpdInstance.RunAsync(new Dictionary<string, string> { ["SMTPD_CERTDIR"] = _dir }, "-n", "-f", path);
    }

    [Fact]
    public async Task Seed_authenticating_relay_passes_with_its_certificate()
    {
        TestCertificates.Write(_dir, "my.cert", "mx.opensmtpd.org");
        var (code, stdout, stderr) = await CheckAsync(SeedAuthenticatingRelay);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
        Assert.DoesNotContain("warning", stderr);
    }

    [Fact]
    public async Task Missing_certificate_is_named()
    {
        var (code, _, stderr) = await CheckAsync(SeedAuthenticatingRelay);
        Assert.Equal(1, code);
        Assert.Contains($"{Path.Combine(_dir, "my.cert.crt")}: cannot open certificate file", stderr);
    }

    [Fact]
    public async Task Key_that_does_not_match_is_named()
    {
        TestCertificates.Write(_dir, "one", "one.example.org");
        TestCertificates.Write(_dir, "two", "two.example.org");
        var (code, _, stderr) = await CheckAsync("""
            pki tlscert cert "{dir}/one.crt"
            pki tlscert key "{dir}/two.key"
            listen on 127.0.0.1 port 2525 smtps pki tlscert
            action "local" maildir
            match from local for local action "local"
            """);
        Assert.Equal(1, code);
        Assert.Contains($"{_dir}/two.key: private key does not match certificate {_dir}/one.crt", stderr);
        Assert.Contains(":1:", stderr); // the pki line
    }

    [Fact]
    public async Task Old_protocols_are_refused_with_the_listener_line()
    {
        TestCertificates.Write(_dir, "mx", "mx.example.org");
        var (code, _, stderr) = await CheckAsync("""
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            listen on 127.0.0.1 port 2525 tls pki tlscert protocols "tlsv1.0"
            action "local" maildir
            match from local for local action "local"
            """);
        Assert.Equal(1, code);
        Assert.Contains(":3: protocols: tlsv1.0 is not supported", stderr);
    }
}
