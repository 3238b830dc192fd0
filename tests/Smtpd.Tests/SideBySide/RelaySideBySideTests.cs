using System.Text.RegularExpressions;
using Smtpd.Tests.Mta;
using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

// client ──SMTP──▶ ours / OpenSMTPD 6.8 ──relay host smtp://──▶ ScriptedPeer (records every command)
// What the next hop sees from each (EHLO, MAIL FROM and RCPT TO with their parameters, the
// message as relayed) and what each logs about it. (Relay by MX: RelayByMxSideBySideTests.)
public sealed class RelaySideBySideTests(ITestOutputHelper output) : IAsyncLifetime
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    ScriptedPeer? _peer;
    ServerPair? _pair;

    public async Task InitializeAsync()
    {
        if (OpenSmtpdInstance.Unavailable is not null) return;
        _peer = new ScriptedPeer { Extensions = ["PIPELINING", "8BITMIME", "SIZE 10000000", "DSN", "ENHANCEDSTATUSCODES"] }.Start();
        _pair = await ServerPair.StartAsync($$"""
            listen on 127.0.0.1 port {port}
            action "out" relay host smtp://127.0.0.1:{{_peer.Port}}
            match from local for any action "out"
            """);
    }

    public async Task DisposeAsync()
    {
        if (_pair is not null) await _pair.DisposeAsync();
        if (_peer is not null) await _peer.DisposeAsync();
    }

    const string Message = "From: alice@example.org\nTo: bob@far.example\nSubject: relayed\nDate: Mon, 7 Dec 2026 01:02:03 +0000\nMessage-ID: <r@example.org>\n\n..dot\nrelayed body\n";

    async Task<Dictionary<string, string?>> ObserveAsync(ISideServer s)
    {
        var seen = new Dictionary<string, string?>();
        int commandsBefore = _peer!.Commands.Count, messagesBefore = _peer.Messages.Count;
        var replies = await Session.RunAsync(s, ["EHLO client.example", "MAIL FROM:<alice@example.org> RET=HDRS ENVID=env42", "RCPT TO:<bob@far.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@far.example",
            "RCPT TO:<carol@far.example>", "DATA", Message.ReplaceLineEndings("\r\n") + ".\r\n", "QUIT"]);
        seen["end of DATA"] = SmtpReply.Codes(replies[6]);
        var deadline = DateTime.UtcNow + Timeout;
        while (_peer.Messages.Count == messagesBefore && DateTime.UtcNow < deadline) await Task.Delay(100);
        await Queue.WaitEmptyAsync(s);
        var commands = _peer.Commands.Skip(commandsBefore).ToList();
        // (the order of RCPTs within a transaction means nothing: sorted)
        seen["peer: commands"] = string.Join(" | ", commands.Select(c => c.StartsWith("RCPT") ? "RCPT" : Regex.Replace(Normalise.Text(c), @" .*", "")));
        seen["peer: EHLO name"] = Normalise.Text(commands.FirstOrDefault(c => c.StartsWith("EHLO")) ?? "");
        string mail = commands.FirstOrDefault(c => c.StartsWith("MAIL")) ?? "";
        seen["peer: MAIL FROM (SIZE aside)"] = Regex.Replace(mail, @" SIZE=\d+", "");
        seen["peer: MAIL FROM carries SIZE"] = mail.Contains(" SIZE=").ToString();
        foreach (var rcpt in commands.Where(c => c.StartsWith("RCPT")))
            seen[$"peer: {rcpt.Split(' ')[1]}"] = rcpt;
        seen["peer: messages"] = (_peer.Messages.Count - messagesBefore).ToString();
        var relayed = Delivered.Parse(_peer.Messages.Skip(messagesBefore).FirstOrDefault() ?? "", s.Dir);
        seen["relayed: header names"] = relayed.HeaderNames;
        seen["relayed: Received"] = relayed.Header("Received")?.Replace("(smtpd)", "(<server>)").Replace("(OpenSMTPD)", "(<server>)");
        seen["relayed: body"] = relayed.Body;
        // The mta log lines, field by field (ids, ports and delays blanked).
        foreach (var line in s.Log.Split('\n').Where(l => l.Contains(" mta ")))
        {
            var fields = Regex.Matches(Normalise.Text(line), @"(\w[\w-]*)=(""[^""]*""|\S+)").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
            string kind = line.Split(' ').Skip(1).Take(2) is var k ? string.Join(" ", k) : "";
            string who = fields.TryGetValue("to", out var to) ? " " + to : "";
            seen[$"log: {kind}{who}: keys"] = string.Join(" ", fields.Keys);
            foreach (var (key, value) in fields.Where(f => f.Key is not ("evpid" or "delay" or "session")))
                seen[$"log: {kind}{who}: {key}"] = Regex.Replace(value, @":\d{4,5}\b", ":<port>");
        }
        return seen;
    }

    // docs/DEVIATIONS.md: our side of each deviation kept on purpose.
    static readonly Dictionary<string, (string Ours, string Why)> Kept = new()
    {
        ["peer: MAIL FROM carries SIZE"] = ("True", "RFC 1870 6: a client sends SIZE to a server that announces it"),
        // OpenSMTPD 6.8 gives carol the NOTIFY and ORCPT that the client gave bob.
        ["peer: TO:<carol@far.example>"] = ("RCPT TO:<carol@far.example>", "RFC 3461 4: NOTIFY and ORCPT are per recipient"),
        ["log: mta delivery <bob@far.example>: relay"] = ("\"127.0.0.1 [127.0.0.1]\"", RelayWhy),
        ["log: mta delivery <carol@far.example>: relay"] = ("\"127.0.0.1 [127.0.0.1]\"", RelayWhy),
        ["log: mta delivery <bob@far.example>: keys"] = ("evpid from to rcpt source relay tls delay result stat", TlsWhy),
        ["log: mta delivery <carol@far.example>: keys"] = ("evpid from to rcpt source relay tls delay result stat", TlsWhy),
        ["log: mta delivery <bob@far.example>: tls"] = ("none", TlsWhy),
        ["log: mta delivery <carol@far.example>: tls"] = ("none", TlsWhy),
    };

    const string TlsWhy = "tls= says what protected the delivery (dane, sts, verified, unverified, none): OpenSMTPD says nothing of it (issue 22)";
    const string RelayWhy = "relay= names the host the route chose (and TLS verified), then its address; OpenSMTPD's PTR name is often missing or generic";

    static readonly Dictionary<string, string> Pending = new();

    [SkippableFact]
    public async Task What_the_next_hop_sees_and_the_log_says()
    {
        Skip.If(_pair is null, OpenSmtpdInstance.Unavailable);
        var ours = await ObserveAsync(_pair!.Ours);
        var theirs = await ObserveAsync(_pair.Theirs);
        var c = new Comparison(output, "relay");
        c.ObserveAll(ours, theirs, Kept, Pending);
        output.WriteLine($"ours' log:\n{_pair.Ours.Log}\ntheirs' log:\n{_pair.Theirs.Log}");
        c.AssertAll();
    }
}
