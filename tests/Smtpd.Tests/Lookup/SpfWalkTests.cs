using System.Net;
using Smtpd.Lookup.Dns;
using Smtpd.Tests.Mta;

namespace Smtpd.Tests.Lookup;

// SpfWalk ──DnsResolver──▶ dnsmasq on a free loopback port (TXT, MX, A, AAAA of spf.test)
// smtpctl spf walk's walker and the resolver's raw queries against a real DNS server; the same
// walk side by side with OpenSMTPD 6.8's is SideBySide/SpfWalkSideBySideTests.
public sealed class SpfWalkTests : IAsyncLifetime
{
    Dnsmasq? _dns;
    DnsResolver? _resolver;

    public Task InitializeAsync()
    {
        if (!Dnsmasq.Available) return Task.CompletedTask;
        _dns = new Dnsmasq(["spf.test"],
        [
            "txt-record=spf.test,\"v=spf1 ip4:192.0.2.0/24  . ip6:2001:db8::/32 a mx/28 include:inc.spf.test exists:%{i}.spf.test ~all\"",
            "txt-record=spf.test,\"not an spf record ip4:192.0.2.99\"",
            "host-record=spf.test,192.0.2.10,2001:db8::10",
            "mx-host=spf.test,mx.spf.test,10",
            "host-record=mx.spf.test,192.0.2.30",
            "txt-record=inc.spf.test,\"v=spf1 \",\"a:host.spf.test//64 include:spf.test -ip4:10.0.0.1\"",
            "host-record=host.spf.test,192.0.2.20,2001:db8::20",
        ]);
        _resolver = new DnsResolver([new IPEndPoint(IPAddress.Loopback, _dns.Port)]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_dns is not null) await _dns.DisposeAsync();
    }

    [SkippableFact]
    public async Task Txt_answers_join_their_strings_and_a_missing_name_has_none()
    {
        Skip.If(_resolver is null, "dnsmasq is not installed");
        var txt = await _resolver!.QueryAsync("inc.spf.test", DnsRecordType.Txt, CancellationToken.None);
        Assert.Equal([new DnsAnswer.Txt("inc.spf.test", "v=spf1 a:host.spf.test//64 include:spf.test -ip4:10.0.0.1")], txt);
        Assert.Empty(await _resolver.QueryAsync("none.spf.test", DnsRecordType.Txt, CancellationToken.None));
        Assert.Empty(await _resolver.QueryAsync("host.spf.test", DnsRecordType.Mx, CancellationToken.None));
        Assert.Equal([new DnsAnswer.Mx("spf.test", "mx.spf.test.", 10)], await _resolver.QueryAsync("spf.test", DnsRecordType.Mx, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Walk_prints_every_allowed_network_once_per_term_and_warns_about_macros()
    {
        Skip.If(_resolver is null, "dnsmasq is not installed");
        var printed = new List<string>();
        var warnings = new List<string>();
        await new SpfWalk(_resolver!, printed.Add, warnings.Add).RunAsync(["spf.test  ", "", "none.spf.test"], CancellationToken.None);
        // ip4/ip6 as written; a: the domain's A and AAAA; mx/28: the exchanger's A with the length;
        // include: walked (and its include back to spf.test is not walked again); ~ and - terms skipped.
        Assert.Equal(["192.0.2.0/24", "192.0.2.10", "192.0.2.20", "192.0.2.30/28", "2001:db8::/32", "2001:db8::10", "2001:db8::20/64"],
            printed.Order(StringComparer.Ordinal));
        Assert.Equal(["lookup_record: %{i}.spf.test contains macros and can't be resolved"], warnings);
    }
}
