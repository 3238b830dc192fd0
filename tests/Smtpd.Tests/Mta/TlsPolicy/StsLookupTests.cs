using Microsoft.Extensions.Time.Testing;
using Smtpd.Lookup.Dns;
using Smtpd.Mta.TlsPolicy.Sts;

namespace Smtpd.Tests.Mta.TlsPolicy;

// When an MTA-STS policy is fetched and when the cached one is used (RFC 8461 3.3, 5.1): fetched
// once per TXT id, again when the id changes; the cached one holds through a DNS outage, a gone
// TXT record, a web server that does not answer and a restart, until its max_age runs out.
// The DNS and the web server are fakes here; StsNamespaceTests has the real ones.
public sealed class StsLookupTests : IDisposable
{
    readonly string _spool = Directory.CreateTempSubdirectory("sts-lookup-").FullName;
    readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    readonly FakeDns _dns = new();
    readonly FakeWeb _web = new();

    public void Dispose() => Directory.Delete(_spool, recursive: true);

    StsLookup Lookup() => new(_dns, _web, new StsCache(_spool), _clock); // a new one: a restarted daemon

    const string Enforce = "version: STSv1\nmode: enforce\nmx: mx1.example.net\nmax_age: 3600\n";

    [Fact]
    public async Task Fetched_once_per_id_and_again_when_the_id_changes()
    {
        var sts = Lookup();
        _dns.Txt = "v=STSv1; id=1";
        _web.Policy = Enforce;
        var first = await sts.FindAsync("example.net", default);
        Assert.Equal("enforce", first.Policy?.Mode);
        Assert.False(first.FromCache);
        Assert.Equal(1, _web.Fetches);

        var again = await sts.FindAsync("example.net", default);
        Assert.True(again.FromCache);
        Assert.Equal(1, _web.Fetches);

        _dns.Txt = "v=STSv1; id=2";
        _web.Policy = Enforce.Replace("mx1", "mx2");
        var changed = await sts.FindAsync("example.net", default);
        Assert.False(changed.FromCache);
        Assert.Equal(2, _web.Fetches);
        Assert.True(changed.Policy!.Allows("mx2.example.net"));
    }

    [Fact]
    public async Task The_cached_policy_holds_through_outages_and_a_restart_until_max_age()
    {
        _dns.Txt = "v=STSv1; id=1";
        _web.Policy = Enforce;
        await Lookup().FindAsync("example.net", default);

        _web.Policy = null; // the web server is down
        _dns.Fail = true;   // and the DNS
        var outage = await Lookup().FindAsync("example.net", default);
        Assert.True(outage.FromCache);
        Assert.Equal("enforce", outage.Policy?.Mode);
        Assert.Contains("TXT lookup failed", outage.Detail);

        _dns.Fail = false;
        _dns.Txt = null; // the record is gone: the policy still holds (RFC 8461 5.1)
        Assert.True((await Lookup().FindAsync("example.net", default)).FromCache);

        _dns.Txt = "v=STSv1; id=3"; // a new id, and no policy to be had: the cached one holds
        var unreachable = await Lookup().FindAsync("example.net", default);
        Assert.True(unreachable.FromCache);
        Assert.Contains("fetch failed", unreachable.Detail);

        _clock.Advance(TimeSpan.FromMinutes(61)); // past max_age
        var expired = await Lookup().FindAsync("example.net", default);
        Assert.Null(expired.Policy);
    }

    [Fact]
    public async Task A_published_policy_that_cannot_be_had_says_what_tls_rpt_reports_unless_a_cached_one_stands_in()
    {
        // RFC 8460 4.3.2.1's result types.
        _dns.Txt = "v=STSv1; id=1";
        _web.Policy = null;
        var unfetched = await Lookup().FindAsync("example.net", default);
        Assert.Null(unfetched.Policy);
        Assert.Equal("sts-policy-fetch-error", unfetched.RptResult);

        _web.Policy = "version: STSv1\nmode: sometimes\n";
        var invalid = await Lookup().FindAsync("example.net", default);
        Assert.Null(invalid.Policy);
        Assert.Equal("sts-policy-invalid", invalid.RptResult);

        _web.Policy = Enforce;
        Assert.Null((await Lookup().FindAsync("example.net", default)).RptResult);
        _dns.Txt = "v=STSv1; id=2"; // a new id, the web server down: the cached policy applies, nothing failed
        _web.Policy = null;
        var cached = await Lookup().FindAsync("example.net", default);
        Assert.True(cached.FromCache);
        Assert.Null(cached.RptResult);

        _dns.Txt = null; // no TXT record: no policy published, nothing to report
        Assert.Null((await new StsLookup(_dns, _web, new StsCache(null), _clock).FindAsync("example.net", default)).RptResult);
    }

    sealed class FakeDns : IDnssecResolver
    {
        public string? Txt { get; set; }
        public bool Fail { get; set; }

        public Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct)
        {
            if (Fail) throw new DnsTempFailException($"DNS error for {name}: no answer");
            Assert.Equal("_mta-sts.example.net", name);
            return Task.FromResult(new DnssecAnswer(Txt is null ? [] : [new DnsAnswer.Txt(name, Txt)], false, Txt is not null));
        }
    }

    sealed class FakeWeb : IStsPolicySource
    {
        public string? Policy { get; set; }
        public int Fetches { get; private set; }

        public Task<string> FetchAsync(string domain, CancellationToken ct)
        {
            if (Policy is null) throw new StsFetchException("connection refused");
            Fetches++;
            return Task.FromResult(Policy);
        }
    }
}
