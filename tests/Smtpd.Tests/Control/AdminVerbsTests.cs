using System.Diagnostics;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Control;

// client ──SMTP──▶ smtpd ──relay host──▶ DeferringPeer on 127.0.0.1 (451 at end of DATA until it accepts)
//                        ──relay host──▶ 127.0.0.2, a port nobody listens on
// The verbs OpenSMTPD's smtpctl has for the MTA and the queue's walk: discover, show hoststats,
// show mta paused, resume route; and its answers to a command it cannot read or a missing table.
public sealed class AdminVerbsTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static async Task<SmtpdInstance> StartAsync(int peerPort, int deadPort)
    {
        var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "out" relay host smtp://127.0.0.1:{{peerPort}}
            action "dead" relay host smtp://127.0.0.2:{{deadPort}}
            match from local for domain "dead.example" action "dead"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        return smtpd;
    }

    static async Task<string> SendAsync(int port, string rcpt)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync("MAIL FROM:<alice@example.org>");
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        string reply = await d.CommandAsync("Subject: admin verbs\r\n\r\nbody\r\n.");
        Assert.StartsWith("250", reply);
        return reply.Split(' ')[2];
    }

    static Task WaitAsync(Func<Task<bool>> condition, string what) => Poll.UntilAsync(condition, what, Timeout);

    static async Task<string> RunAsync(SmtpdInstance smtpd, params string[] args)
    {
        var (code, output) = await Smtpctl.RunAsync(smtpd, args);
        Assert.True(code == 0, $"smtpctl {string.Join(' ', args)}: exit {code}: {output}");
        return output.Trim();
    }

    [Fact]
    public async Task Discover_gives_the_scheduler_back_a_message_an_admin_restored_and_it_is_delivered_once()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = await StartAsync(peer.Port, SmtpdInstance.FreePort());
        string msgid = await SendAsync(smtpd.Port, "kept@far.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        await WaitAsync(async () => (await Smtpctl.QueueAsync(smtpd)) is [[.., "pending", _, _]], "envelope pending");
        string evpid = Assert.Single(await Smtpctl.QueueAsync(smtpd))[0];

        // The admin keeps a copy of the message's files, removes it, then puts the copy back.
        string dir = Directory.GetDirectories(Path.Combine(smtpd.Spool, "queue"), msgid, SearchOption.AllDirectories).Single();
        string copy = Path.Combine(smtpd.Dir, "saved");
        await CopyAsync(dir, copy);
        Assert.Equal("1 envelope removed", await RunAsync(smtpd, "remove", msgid));
        await WaitAsync(() => Task.FromResult(!Directory.Exists(dir)), "message files removed");
        await CopyAsync(copy, dir);
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));

        Assert.Equal("1 envelope discovered", await RunAsync(smtpd, "discover", msgid));
        Assert.Equal(evpid, Assert.Single(await Smtpctl.QueueAsync(smtpd))[0]);
        // Read again, an envelope the scheduler holds is counted but not taken twice.
        Assert.Equal("1 envelope discovered", await RunAsync(smtpd, "discover", evpid));
        Assert.Single(await Smtpctl.QueueAsync(smtpd));
        Assert.Equal("0 envelopes discovered", await RunAsync(smtpd, "discover", "01234567"));
        Assert.Equal("0 envelopes discovered", await RunAsync(smtpd, "discover", "0123456789abcdef"));

        peer.Accepting = true;
        Assert.Equal("1 envelope scheduled", await RunAsync(smtpd, "schedule", msgid));
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "delivery of the discovered message");
        await WaitAsync(async () => (await Smtpctl.QueueAsync(smtpd)).Length == 0, "queue empty");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, peer.Accepted);
    }

    static async Task CopyAsync(string from, string to)
    {
        // cp -a: the daemon's owner and modes kept, as an admin restoring from a backup would.
        using var cp = Process.Start("cp", ["-a", from, to])!;
        await cp.WaitForExitAsync();
        Assert.Equal(0, cp.ExitCode);
    }

    [Fact]
    public async Task Show_hoststats_gives_each_domains_last_result_and_when()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = await StartAsync(peer.Port, SmtpdInstance.FreePort());
        Assert.Equal("", await RunAsync(smtpd, "show", "hoststats"));
        await SendAsync(smtpd.Port, "a@Far.Example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);

        var (domain, at, result) = Single(await RunAsync(smtpd, "show", "hoststats"));
        Assert.Equal("far.example", domain);
        Assert.InRange(at, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Equal("451 4.3.0 Try again later", result);

        peer.Accepting = true;
        await RunAsync(smtpd, "schedule", "all");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        (domain, _, result) = Single(await RunAsync(smtpd, "show", "hoststats"));
        Assert.Equal("far.example", domain);
        Assert.StartsWith("250 2.0.0 Ok", result);
    }

    static (string Domain, long At, string Result) Single(string output)
    {
        var fields = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)).Split('|');
        Assert.Equal(3, fields.Length);
        return (fields[0], long.Parse(fields[1]), fields[2]);
    }

    [Fact]
    public async Task Resume_route_makes_a_next_hop_usable_at_once_and_show_mta_paused_lists_no_admin_block()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        int dead = SmtpdInstance.FreePort();
        await using var smtpd = await StartAsync(peer.Port, dead);
        await SendAsync(smtpd.Port, "b@dead.example");
        await smtpd.WaitForLogAsync("penalized", Timeout);
        string Hop(string routes) => routes.Split('\n').Single(l => l.Contains("<-> 127.0.0.2 "));
        string broken = Hop(await RunAsync(smtpd, "show", "routes"));
        Assert.Contains(" ND-- ", broken);
        string id = broken.Split('.')[0];

        // What OpenSMTPD lists here is "pause mta from ADDR for DOMAIN" blocks: none, whatever the MTA penalized.
        await RunAsync(smtpd, "pause", "mta");
        Assert.Equal("", await RunAsync(smtpd, "show", "mta", "paused"));
        await RunAsync(smtpd, "resume", "mta");

        Assert.Equal("command succeeded", await RunAsync(smtpd, "resume", "route", id));
        await WaitAsync(async () => Hop(await RunAsync(smtpd, "show", "routes")).Contains(" N--- "), "next hop enabled");
        Assert.StartsWith($"{id}. ", Hop(await RunAsync(smtpd, "show", "routes")));
        Assert.Contains($"Enabling route {id} ", smtpd.Log);
        // As OpenSMTPD: an id that names nothing is accepted, and changes nothing.
        Assert.Equal("command succeeded", await RunAsync(smtpd, "resume", "route", "999"));
    }

    [Fact]
    public async Task A_missing_table_envelope_or_verb_gets_opensmtpds_answer()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        await using var smtpd = await StartAsync(peer.Port, SmtpdInstance.FreePort());
        Assert.Equal((1, "command failed"), Trimmed(await Smtpctl.RunAsync(smtpd, "update", "table", "nosuchtable")));
        Assert.Contains("no such table: nosuchtable", smtpd.Log);
        Assert.Equal((1, "smtpctl: fopen: No such file or directory"), Trimmed(await Smtpctl.RunAsync(smtpd, "show", "envelope", "0123456789abcdef")));
        Assert.Equal((255, "possibilities are:\nresume envelope\nresume mda\nresume mta\nresume route\nresume smtp"),
            Sorted(await Smtpctl.RunAsync(smtpd, "resume", "nothing")));
    }

    static (int, string) Trimmed((int Code, string Output) r) => (r.Code, r.Output.Trim());

    static (int, string) Sorted((int Code, string Output) r)
    {
        var lines = r.Output.Trim().Split('\n');
        return (r.Code, string.Join('\n', lines.Take(1).Concat(lines.Skip(1).Order(StringComparer.Ordinal))));
    }
}
