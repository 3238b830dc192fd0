using System.Net;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Mta;
using Smtpd.Mta.TlsPolicy;
using Smtpd.Table;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta.TlsPolicy;

// The administrator's outbound TLS policy: "tls-policy <table>" (domain -> none, encrypt, verify,
// dane-only, sts-only, auto) and "tls-policy default X"; what a relay by MX then asks of the
// TLS handshake; that a relay host keeps its own TLS settings; and that smtpd -n names a bad
// value at file:line.
public sealed class LocalTlsPolicyTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("tls-policy-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A DNS where every domain has an MX and nothing is DNSSEC-validated.</summary>
    static FixedMx NoDns() => new();

    static Ruleset Parse(string globals, string actionOptions = "") => ConfigParser.Parse($$"""
        table policies { secure.example = verify, "*.legacy.example" = none, enc.example = encrypt, dane.example = dane-only, sts.example = sts-only, auto.example = auto }
        {{globals}}
        action "out" relay {{actionOptions}}
        match from local for any action "out"
        """, "smtpd.conf");

    static async Task<OutboundTlsPolicy> PolicyAsync(Ruleset r, string domain) =>
        await new TlsPolicyResolver(r, new TableSet(r), NoDns(), 25).ResolveAsync(domain, CancellationToken.None);

    [Theory]
    [InlineData("secure.example", TlsPolicyMode.Verify, TlsPolicySource.LocalTable)]
    [InlineData("enc.example", TlsPolicyMode.Encrypt, TlsPolicySource.LocalTable)]
    [InlineData("mx.legacy.example", TlsPolicyMode.None, TlsPolicySource.LocalTable)] // the nearest *.parent entry
    [InlineData("a.b.legacy.example", TlsPolicyMode.None, TlsPolicySource.LocalTable)]
    [InlineData("SECURE.example", TlsPolicyMode.Verify, TlsPolicySource.LocalTable)]
    [InlineData("other.example", TlsPolicyMode.Encrypt, TlsPolicySource.LocalDefault)] // tls-policy default encrypt
    public async Task The_table_entry_else_the_default_decides(string domain, TlsPolicyMode mode, TlsPolicySource source)
    {
        var policy = await PolicyAsync(Parse("tls-policy <policies>\ntls-policy default encrypt"), domain);
        Assert.Equal(mode, policy.Mode);
        Assert.Equal(source, policy.Source);
        Assert.Null(policy.Failure);
    }

    [Fact]
    public async Task Auto_with_nothing_published_is_opportunistic_and_says_so()
    {
        var r = Parse("tls-policy <policies>");
        var policy = await PolicyAsync(r, "auto.example");
        Assert.Equal(TlsPolicyMode.Opportunistic, policy.Mode);
        Assert.Equal(TlsPolicySource.Dns, policy.Source);
        Assert.Contains("policy=opportunistic source=\"DNS\"", policy.Lines()[0]);
    }

    [Fact]
    public async Task Dane_only_and_sts_only_without_a_policy_are_temporary_failures()
    {
        var r = Parse("tls-policy <policies>");
        var dane = await PolicyAsync(r, "dane.example");
        Assert.StartsWith("dane-only: no DANE", dane.Failure);
        var sts = await PolicyAsync(r, "sts.example");
        Assert.StartsWith("sts-only:", sts.Failure);
        // The route says so, as a temporary failure: the mail waits, never goes in plain text.
        var route = await new RoutePlanner(r, new TableSet(r), new FixedMx()).PlanAsync(r.Actions["out"], "dane.example", CancellationToken.None);
        Assert.Equal(OutcomeKind.TempFail, route.Failure?.Kind);
    }

    [Theory]
    [InlineData("secure.example", "", MtaTls.Required, true)]
    [InlineData("enc.example", "", MtaTls.Required, false)]
    [InlineData("x.legacy.example", "", MtaTls.None, false)]
    [InlineData("x.legacy.example", "tls", MtaTls.Required, true)] // the action's "tls" still holds
    [InlineData("enc.example", "tls no-verify", MtaTls.Required, false)]
    public async Task A_relay_by_mx_asks_the_handshake_what_the_policy_says(string domain, string actionOptions, MtaTls tls, bool verify)
    {
        var r = Parse("tls-policy <policies>", actionOptions);
        // An address literal goes to the DNS for nothing; the table still names it by domain.
        var planner = new RoutePlanner(r, new TableSet(r), new FixedMx());
        var route = await planner.PlanAsync(r.Actions["out"], domain, CancellationToken.None);
        Assert.Null(route.Failure);
        Assert.Equal(tls, route.Options.Tls);
        Assert.Equal(verify, route.Options.VerifyCertificate);
    }

    [Fact]
    public async Task A_relay_host_keeps_its_own_tls_settings()
    {
        var r = Parse("tls-policy default verify", "host smtp://relay.example");
        var route = await new RoutePlanner(r, new TableSet(r), new FixedMx()).PlanAsync(r.Actions["out"], "secure.example", CancellationToken.None);
        Assert.Equal(MtaTls.Opportunistic, route.Options.Tls);
        Assert.False(route.Options.VerifyCertificate);
        Assert.Null(route.TlsPolicy);
    }

    [Fact]
    public void An_unknown_default_is_refused_at_its_line()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigParser.Parse("""
            listen on 127.0.0.1
            tls-policy default maybe
            action "out" relay
            match from local for any action "out"
            """, "/etc/smtpd.conf"));
        Assert.Contains("/etc/smtpd.conf:2: unknown TLS policy 'maybe' (auto, none, encrypt, verify, dane-only or sts-only)", ex.Message);
    }

    [Theory]
    [InlineData("tls-rpt domain reporter.example contact postmaster@reporter.example", null)]
    [InlineData("tls-rpt domain reporter.example contact nobody", "/etc/smtpd.conf:2: invalid tls-rpt contact 'nobody': not a mail address")]
    [InlineData("tls-rpt domain a@reporter.example contact a@b.example", "/etc/smtpd.conf:2: invalid tls-rpt domain 'a@reporter.example'")]
    [InlineData("tls-rpt contact a@b.example", "/etc/smtpd.conf:2: ")]
    public void Tls_rpt_is_off_unless_configured_with_a_domain_and_a_contact(string line, string? error)
    {
        string text = $"""
            listen on 127.0.0.1
            {line}
            action "out" relay
            match from local for any action "out"
            """;
        Assert.Null(ConfigParser.Parse(text.Replace(line, ""), "/etc/smtpd.conf").TlsRptDomain);
        if (error is null)
        {
            var r = ConfigParser.Parse(text, "/etc/smtpd.conf");
            Assert.Equal("reporter.example", r.TlsRptDomain);
            Assert.Equal("postmaster@reporter.example", r.TlsRptContact);
            return;
        }
        Assert.Contains(error, Assert.Throws<ConfigException>(() => ConfigParser.Parse(text, "/etc/smtpd.conf")).Message);
    }

    [Fact]
    public async Task Smtpd_n_names_a_bad_table_value_at_file_and_line()
    {
        string conf = Path.Combine(_dir, "smtpd.conf"), table = Path.Combine(_dir, "tls-policies");
        File.WriteAllText(table, "# domain  policy\nexample.org  verify\nexample.net  secure\n");
        File.WriteAllText(conf, $"""
            table policies file:{table}
            tls-policy <policies>
            action "out" relay
            match from local for any action "out"
            """);
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.Equal(1, code);
        Assert.Contains($"{table}:3: bad tls-policy value for \"example.net\": not a TLS policy", stderr);

        File.WriteAllText(table, "example.org  verify\nexample.net  dane-only\n");
        (code, var stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
    }

    /// <summary>Every domain's MX is mx.DOMAIN; no answer is DNSSEC-validated (no AD bit).</summary>
    sealed class FixedMx : IDnsResolver, IDnssecResolver
    {
        public Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct) =>
            Task.FromResult(new DnssecAnswer(type == DnsRecordType.Mx ? [new DnsAnswer.Mx(name, $"mx.{name}", 10)] : [], Secure: false, Exists: true, "no AD bit"));
        public Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct) => Task.FromResult<MxLookup>(new MxLookup.Found([new MxHost($"mx.{domain}", 10)]));
        public Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct) => Task.FromResult<IReadOnlyList<IPAddress>>([IPAddress.Loopback]);
        public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => Task.FromResult(ReverseName.None);
    }
}
