using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

// sendmail ──▶ ours / OpenSMTPD 6.8, both inside one network namespace whose /etc/resolv.conf
// names dnsmasq on 127.0.0.1 ──relay (MX far.test → mx.far.test → 127.0.0.2:25)──▶ ScriptedPeer
// Relay by MX through a real DNS server reached through /etc/resolv.conf (no SMTPD_RESOLVER):
// what the MX receives and what each server logs.
public sealed class RelayByMxSideBySideTests(ITestOutputHelper output) : IAsyncLifetime
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    MxNamespace? _ns;
    ServerPair? _pair;

    public async Task InitializeAsync()
    {
        if (OpenSmtpdInstance.Unavailable is not null || MxNamespace.Unavailable is not null) return;
        _ns = await MxNamespace.CreateAsync();
        _pair = await ServerPair.StartAsync("""
            listen on 127.0.0.1 port {port}
            action "out" relay
            match from local for any action "out"
            """, s =>
        {
            if (s is OpenSmtpdInstance theirs) theirs.NetworkNamespacePid = _ns.Pid;
            if (s is OurServer ours)
            {
                ours.Instance.Wrapper.AddRange(["nsenter", "-t", _ns.Pid.ToString(), "-n", "-m", "--"]);
                ours.Instance.Environment.Remove("SMTPD_RESOLVER"); // the resolver reads /etc/resolv.conf, as an admin's does
            }
        });
    }

    public async Task DisposeAsync()
    {
        if (_pair is not null) await _pair.DisposeAsync();
        if (_ns is not null) await _ns.DisposeAsync();
    }

    const string Message = "From: alice@example.org\nTo: bob@far.test\nSubject: by mx\nDate: Mon, 7 Dec 2026 01:02:03 +0000\nMessage-ID: <mx@example.org>\n\nrelayed by MX\n";

    async Task<Dictionary<string, string?>> ObserveAsync(ISideServer s)
    {
        var seen = new Dictionary<string, string?>();
        var peer = _ns!.Mx;
        int commandsBefore = peer.Commands.Count, messagesBefore = peer.Messages.Count;
        var (code, text) = await s.CtlAsync("sendmail", Message, "-f", "alice@example.org", "bob@far.test");
        seen["sendmail: exit code"] = code.ToString();
        seen["sendmail: output"] = text.Trim();
        var deadline = DateTime.UtcNow + Timeout;
        while (peer.Messages.Count == messagesBefore && DateTime.UtcNow < deadline) await Task.Delay(100);
        seen["MX received"] = (peer.Messages.Count - messagesBefore).ToString();
        var commands = peer.Commands.Skip(commandsBefore).ToList();
        seen["MX: commands"] = string.Join(" | ", commands.Select(c => c.Split(' ')[0]));
        seen["MX: MAIL FROM (SIZE aside)"] = Regex.Replace(commands.FirstOrDefault(c => c.StartsWith("MAIL")) ?? "", @" SIZE=\d+", "");
        seen["MX: RCPT TO"] = commands.FirstOrDefault(c => c.StartsWith("RCPT"));
        var relayed = Delivered.Parse(peer.Messages.Skip(messagesBefore).FirstOrDefault() ?? "", s.Dir);
        // item 6 (smtpside): locally submitted mail gets Date/Message-ID; given here, so the names compare.
        seen["MX: header names"] = relayed.HeaderNames;
        seen["MX: body"] = relayed.Body;
        await Queue.WaitEmptyAsync(s);
        seen["queue after delivery"] = (await Queue.ShowAsync(s)).Length.ToString();
        foreach (var line in s.Log.Split('\n').Where(l => l.Contains(" mta ")))
        {
            var fields = Regex.Matches(Normalise.Text(line), @"(\w[\w-]*)=(""[^""]*""|\S+)").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
            string kind = string.Join(" ", line.Split(' ').Skip(1).Take(2));
            foreach (var key in new[] { "host", "relay", "to", "result", "stat" })
                if (fields.TryGetValue(key, out var value)) seen[$"log: {kind}: {key}"] = Regex.Replace(value, @":\d{2,5}\b", ":<port>");
        }
        return seen;
    }

    static readonly Dictionary<string, string> Pending = new();

    // docs/DEVIATIONS.md: our side of each deviation kept on purpose.
    static readonly Dictionary<string, (string Ours, string Why)> Kept = new()
    {
        ["log: mta delivery: relay"] = ("\"mx.far.test [127.0.0.2]\"", "relay= names the host the route chose (and TLS verified), then its address; OpenSMTPD's PTR name is often missing or generic"),
    };

    [SkippableFact]
    public async Task Relay_by_mx_through_a_dns_server_named_in_resolv_conf()
    {
        Skip.If(OpenSmtpdInstance.Unavailable is not null, OpenSmtpdInstance.Unavailable);
        Skip.If(MxNamespace.Unavailable is not null, MxNamespace.Unavailable);
        var ours = await ObserveAsync(_pair!.Ours);
        var theirs = await ObserveAsync(_pair.Theirs);
        var c = new Comparison(output, "relay by MX");
        c.ObserveAll(ours, theirs, Kept, Pending);
        output.WriteLine($"ours' log:\n{_pair.Ours.Log}\ntheirs' log:\n{_pair.Theirs.Log}");
        c.AssertAll();
    }
}
