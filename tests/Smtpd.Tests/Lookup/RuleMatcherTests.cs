using System.Net;
using Smtpd.Config;
using Smtpd.Lookup;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd.Tests.Lookup;

public class RuleMatcherTests
{
    static readonly ConfigLocation L = new("test.conf", 1);

    static Ruleset Rules(params Rule[] rules) => new()
    {
        Hostname = "mx.example.org",
        Tables = new Dictionary<string, TableConfig>
        {
            ["domains"] = new("domains", TableBackendKind.Static, null, ["example.net", "*.wild.example"], new Dictionary<string, string>(), L),
            ["nets"] = new("nets", TableBackendKind.Static, null, ["192.168.0.0/16", "::1"], new Dictionary<string, string>(), L),
        },
        Actions = new Dictionary<string, ActionConfig>
        {
            ["local"] = new("local", DeliveryMethod.Maildir, null, null, null, null, null, null, null, L),
            ["out"] = new("out", DeliveryMethod.Relay, null, null, null, null, null, null, null, L),
        },
        Rules = rules,
    };

    static RuleMatcher Matcher(Ruleset r) => new(r, new TableSet(r), new LocalNames(r.Hostname));
    static MailAddress A(string s) { Assert.True(MailAddress.TryParse(s, true, out var a)); return a; }
    static SessionInfo From(string ip, string? tag = null) => new(IPAddress.Parse(ip), IPAddress.IsLoopback(IPAddress.Parse(ip)), tag, null);

    [Fact]
    public async Task First_match_wins()
    {
        var r = Rules(
            new Rule(true, FromCondition.Any, new ForCondition(ForKind.Domain, "example.net"), null, null, L with { Line = 1 }),
            new Rule(false, FromCondition.Any, ForCondition.Any, null, "out", L with { Line = 2 }));
        var m = Matcher(r);
        Assert.Equal(1, (await m.MatchAsync(From("10.0.0.1"), A("a@example.net")))!.Location.Line);
        Assert.Equal(2, (await m.MatchAsync(From("10.0.0.1"), A("a@example.com")))!.Location.Line);
    }

    [Fact]
    public async Task From_local_means_loopback_and_for_local_means_our_names()
    {
        var m = Matcher(Rules(new Rule(false, FromCondition.Local, ForCondition.Local, null, "local", L)));
        Assert.NotNull(await m.MatchAsync(From("127.0.0.1"), A("bob@localhost")));
        Assert.NotNull(await m.MatchAsync(From("127.0.0.1"), A("bob@MX.example.org")));
        Assert.NotNull(await m.MatchAsync(From("127.0.0.1"), A("bob@[127.0.0.1]")));
        Assert.Null(await m.MatchAsync(From("10.1.2.3"), A("bob@localhost")));
        Assert.Null(await m.MatchAsync(From("127.0.0.1"), A("bob@elsewhere.example")));
    }

    [Fact]
    public async Task Tables_match_domains_wildcards_and_networks()
    {
        var m = Matcher(Rules(new Rule(false, new FromCondition(FromKind.Source, "nets"), new ForCondition(ForKind.Domain, Table: "domains"), null, "local", L)));
        Assert.NotNull(await m.MatchAsync(From("192.168.4.5"), A("x@EXAMPLE.net")));
        Assert.NotNull(await m.MatchAsync(From("192.168.4.5"), A("x@deep.wild.example")));
        Assert.NotNull(await m.MatchAsync(From("::1"), A("x@example.net")));
        Assert.Null(await m.MatchAsync(From("10.0.0.1"), A("x@example.net")));
        Assert.Null(await m.MatchAsync(From("192.168.4.5"), A("x@example.org")));
    }

    [Fact]
    public async Task Negation_and_tags()
    {
        var m = Matcher(Rules(
            new Rule(false, FromCondition.Any, new ForCondition(ForKind.Local, Negate: true), "DKIM", "out", L)));
        Assert.NotNull(await m.MatchAsync(From("10.0.0.1", "DKIM"), A("x@example.com")));
        Assert.Null(await m.MatchAsync(From("10.0.0.1", "OTHER"), A("x@example.com")));
        Assert.Null(await m.MatchAsync(From("10.0.0.1", "DKIM"), A("x@localhost")));
    }
}
