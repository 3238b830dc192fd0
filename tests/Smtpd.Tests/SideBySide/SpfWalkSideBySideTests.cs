using System.Globalization;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;
using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

// domains on stdin ──▶ our smtpctl spf walk / OpenSMTPD 6.8's smtpctl spf walk, both inside one
// network namespace whose /etc/resolv.conf names dnsmasq on 127.0.0.1 (TXT, MX, A, AAAA of spf.test)
// What each prints for the same domains: addresses and networks, warnings, exit code. Lookups go
// out at once and answers come back in any order, so the lines are compared sorted.
public sealed class SpfWalkSideBySideTests(ITestOutputHelper output) : IAsyncLifetime
{
    NetworkNamespace? _ns;
    Dnsmasq? _dns;

    static readonly string[] Zone =
    [
        "txt-record=plain.spf.test,\"v=spf1 ip4:192.0.2.0/24 +ip4:198.51.100.7. a mx ?a:host.spf.test/28 exists:ex.spf.test include:inc.spf.test -ip4:10.1.1.1 -a:deny.spf.test ~all\"",
        "host-record=plain.spf.test,192.0.2.10,2001:db8::10",
        "mx-host=plain.spf.test,mx.spf.test,10",
        "host-record=mx.spf.test,192.0.2.30,2001:db8::30",
        "host-record=host.spf.test,192.0.2.20",
        "host-record=ex.spf.test,192.0.2.21",
        "host-record=deny.spf.test,192.0.2.22",
        "txt-record=inc.spf.test,\"v=spf1 ip4:203.0.113.0/25 mx:mx2.spf.test//64 redirect=red.spf.test\"",
        "mx-host=mx2.spf.test,mx.spf.test,10",
        "txt-record=red.spf.test,\"V=SPF1 IP4:203.0.113.200\"",
        // One SPF record in two character-strings (joined with nothing between), beside a TXT that is none.
        "txt-record=split.spf.test,\"v=spf1 ip4:192.0.2.77 \",\"a:host.spf.test\"",
        "txt-record=split.spf.test,\"site-verification=abc ip4:192.0.2.78\"",
        "txt-record=macro.spf.test,\"v=spf1 exists:%{i}.%{d}.spf.test ip4:10.0.0.1\"",
        "txt-record=loop.spf.test,\"v=spf1 include:loop.spf.test include:loop2.spf.test ip4:10.9.9.9\"",
        "txt-record=loop2.spf.test,\"v=spf1 redirect=loop.spf.test\"",
        "txt-record=bad.spf.test,\"v=spf1 ip4:192.0.2.300 ip4:198.51.100.0/33 a:host.spf.test/99 ip4:192.0.2.1 bogus:x\"",
        "txt-record=bare.spf.test,\"v=spf1\"",
        "txt-record=v6.spf.test,\"v=spf1 ip6:2001:db8::/32 ip4:192.0.2.9\"",
        "txt-record=dual.spf.test,\"v=spf1 mx:mx2.spf.test/24//64 a/26\"",
        "host-record=dual.spf.test,192.0.2.66",
        "txt-record=other.spf.test,\"v=spf1 a mx\"",
        "host-record=other.spf.test,192.0.2.88",
        "mx-host=other.spf.test,mx3.spf.test,10",
        "host-record=mx3.spf.test,192.0.2.99",
    ];

    // Each run: its name and the lines on stdin.
    static readonly (string Name, string Input)[] Runs =
    [
        ("plain", "plain.spf.test\n"),
        ("split", "split.spf.test\n"),
        ("macro", "macro.spf.test\n"),
        ("loop", "loop.spf.test\n"),
        ("bad terms", "bad.spf.test\n"),
        ("v=spf1 alone", "bare.spf.test\n"),
        ("no such domain", "none.spf.test\n"),
        ("no TXT record", "host.spf.test\n"),
        ("blank lines and trailing spaces", "\n  \nred.spf.test  \t\n\n"),
        ("empty input", ""),
        ("ip6", "v6.spf.test\n"),
        ("dual cidr", "dual.spf.test\n"),
        ("two domains with a and mx", "plain.spf.test\nother.spf.test\n"),
    ];

    // Kept on purpose (docs/DEVIATIONS.md): our output, and why.
    static readonly Dictionary<string, (string Ours, string Why)> Kept = new()
    {
        ["spf walk ip6: output"] = ("192.0.2.9\n2001:db8::/32",
            "ip6: networks are printed; OpenSMTPD 6.8 built on glibc drops them (its inet_net_pton knows only IPv4)"),
        ["spf walk dual cidr: output"] = ("192.0.2.30/24\n192.0.2.66/26\n2001:db8::30/64",
            "RFC 7208 5.6 dual-cidr-length (mx:host/24//64) and a/26 are read; OpenSMTPD 6.8 skips both terms"),
        ["spf walk two domains with a and mx: output"] = (
            "192.0.2.0/24\n192.0.2.10\n192.0.2.20/28\n192.0.2.21\n192.0.2.30\n192.0.2.30\n192.0.2.88\n192.0.2.99\n198.51.100.7\n2001:db8::10\n2001:db8::30\n2001:db8::30/64\n203.0.113.0/25\n203.0.113.200",
            "a and mx are walked for each domain; OpenSMTPD 6.8 walks each term once in all, so the second domain's a and mx are lost"),
    };

    public async Task InitializeAsync()
    {
        if (OpenSmtpdInstance.Unavailable is not null || MxNamespace.Unavailable is not null) return;
        _ns = await NetworkNamespace.CreateAsync("nameserver 127.0.0.1\n");
        // OpenSMTPD 6.8's resolver ignores a lone 127.0.0.1 when it is the only address it sees (PEERS.md).
        var (code, _, err) = await _ns.RunAsync("ip", ["addr", "add", "127.0.0.254/32", "dev", "lo"]);
        if (code != 0) throw new InvalidOperationException($"ip addr add: {err}");
        _dns = new Dnsmasq(["spf.test"], Zone, _ns);
    }

    public async Task DisposeAsync()
    {
        if (_dns is not null) await _dns.DisposeAsync();
        if (_ns is not null) await _ns.DisposeAsync();
    }

    async Task<(int Code, string Output)> WalkAsync(string program, string[] args, string input, params string[] words)
    {
        string[] enter = ["--target=" + _ns!.Pid.ToString(CultureInfo.InvariantCulture), "--net", "--mount", "--"];
        // No SMTPD_RESOLVER: both read the namespace's /etc/resolv.conf, as on an admin's host.
        if (words.Length == 0) words = ["spf", "walk"];
        return await ExternalTool.RunAsync("nsenter", [.. enter, "env", "-u", "SMTPD_RESOLVER", program, .. args, .. words], input, timeoutSeconds: 60);
    }

    [SkippableFact]
    public async Task Spf_walk_prints_what_opensmtpds_prints()
    {
        Skip.If(OpenSmtpdInstance.Unavailable is not null, OpenSmtpdInstance.Unavailable);
        Skip.If(MxNamespace.Unavailable is not null, MxNamespace.Unavailable);
        var c = new Comparison(output, "smtpctl spf walk");
        foreach (var (name, input) in Runs)
        {
            string[] smtpctl = EndToEnd.TestBinaries.Command("smtpctl");
            var ours = await WalkAsync(smtpctl[0], smtpctl[1..], input);
            var theirs = await WalkAsync(OpenSmtpdInstance.Smtpctl, [], input);
            static string Sorted(string text) => string.Join("\n", text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
            c.Same($"spf walk {name}: exit code", ours.Code, theirs.Code);
            c.Observe($"spf walk {name}: output", Sorted(ours.Output), Sorted(theirs.Output), Kept, new Dictionary<string, string>());
        }
        // Malformed: 6.8's spf walk takes no argument (no -4/-6); no daemon is asked.
        foreach (var words in new[] { new[] { "spf" }, ["spf", "walk", "-4"], ["spf", "run"] })
        {
            string[] smtpctl = EndToEnd.TestBinaries.Command("smtpctl");
            var ours = await WalkAsync(smtpctl[0], smtpctl[1..], "", words);
            var theirs = await WalkAsync(OpenSmtpdInstance.Smtpctl, [], "", words);
            c.Same($"{string.Join(' ', words)}: exit code", ours.Code, theirs.Code);
            c.Same($"{string.Join(' ', words)}: output", ours.Output.Trim(), theirs.Output.Trim());
        }
        c.AssertAll();
    }
}
