using System.Net;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Mta;
using Smtpd.Table;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

// Which TLS and which certificate check each relay action asks for (OpenSMTPD's mta_relay:
// verify whenever TLS is required, unless "tls no-verify"), which sessions it may share, and
// that smtpd -n reads the CA a relay action names.
public sealed class RelayTlsPolicyTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("relay-tls-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    async Task<ClientOptions> OptionsAsync(string actionOptions)
    {
        var r = ConfigParser.Parse($"""
            table secrets {"{"} label = "alice:wonderland" {"}"}
            action "out" relay {actionOptions}
            match from local for any action "out"
            """, "smtpd.conf");
        var route = await new RoutePlanner(r, new TableSet(r), new DnsResolver([new IPEndPoint(IPAddress.Loopback, 9)]))
            .PlanAsync(r.Actions["out"], "[192.0.2.1]", CancellationToken.None); // an address literal: no DNS
        Assert.Null(route.Failure);
        return route.Options;
    }

    [Theory]
    [InlineData("host smtp://relay.example", MtaTls.Opportunistic, false)]
    [InlineData("host smtp+tls://relay.example", MtaTls.Required, true)]
    [InlineData("host smtps://relay.example", MtaTls.Smtps, true)]
    [InlineData("host smtp://relay.example tls", MtaTls.Required, true)]
    [InlineData("host smtp+tls://relay.example tls no-verify", MtaTls.Required, false)]
    [InlineData("host smtps://relay.example tls no-verify", MtaTls.Smtps, false)]
    [InlineData("host smtp+notls://relay.example", MtaTls.None, false)]
    [InlineData("host smtp+auth://label@relay.example auth <secrets>", MtaTls.Required, true)] // credentials need a proven peer
    [InlineData("host smtp+auth://label@relay.example auth <secrets> tls no-verify", MtaTls.Required, false)]
    [InlineData("", MtaTls.Opportunistic, false)] // MX delivery
    [InlineData("tls", MtaTls.Required, true)]
    [InlineData("tls no-verify", MtaTls.Required, false)]
    public async Task Tls_and_the_certificate_check_follow_the_url_and_the_tls_keyword(string options, MtaTls tls, bool verify)
    {
        var o = await OptionsAsync(options);
        Assert.Equal(tls, o.Tls);
        Assert.Equal(verify, o.VerifyCertificate);
    }

    [Fact]
    public async Task Sessions_are_shared_only_by_actions_asking_the_same()
    {
        var endpoint = new IPEndPoint(IPAddress.Loopback, 25);
        string Key(ClientOptions o, string host = "relay.example") => o.Key(endpoint, host);
        var strict = await OptionsAsync("host smtp+tls://relay.example");
        Assert.Equal(Key(strict), Key(await OptionsAsync("host smtp+tls://relay.example")));
        Assert.NotEqual(Key(strict), Key(await OptionsAsync("host smtp+tls://relay.example tls no-verify")));
        Assert.NotEqual(Key(strict), Key(await OptionsAsync("host smtp://relay.example")));
        Assert.NotEqual(Key(strict), Key(await OptionsAsync("host smtp+tls://relay.example helo other.example")));
        // A verified session proved one name: another name at the same address is checked anew.
        Assert.NotEqual(Key(strict), Key(strict, "other.example"));
        // Other roots, other credentials: other sessions.
        Assert.NotEqual(Key(strict), Key(strict with { CaName = "private" }));
        var alice = strict with { Credentials = new NetworkCredential("alice", "wonderland") };
        Assert.NotEqual(Key(strict), Key(alice));
        Assert.NotEqual(Key(alice), Key(strict with { Credentials = new NetworkCredential("alice", "looking-glass") }));
        Assert.DoesNotContain("wonderland", Key(alice));
    }

    [Fact]
    public async Task Smtpd_n_reads_the_ca_of_a_relay_action_and_names_a_bad_one()
    {
        string conf = Path.Combine(_dir, "smtpd.conf");
        File.WriteAllText(Path.Combine(_dir, "notpem.crt"), "not a certificate\n");
        File.WriteAllText(conf, $"""
            ca private cert "{_dir}/notpem.crt"
            action "out" relay host smtp+tls://relay.example ca private
            match from local for any action "out"
            """);
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.Equal(1, code);
        Assert.Contains("notpem.crt", stderr);

        Tls.TestCertificates.Write(_dir, "good", "relay.example");
        File.WriteAllText(conf, File.ReadAllText(conf).Replace("notpem.crt", "good.crt"));
        (code, var stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
        Assert.DoesNotContain("not supported", stderr);
    }
}
