using Smtpd.Tests.EndToEnd;
using static Smtpd.Tests.Filter.Milter.MilterTests;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter m") ⇄ ScriptedMilter
// that misbehaves on its first connection (sleeps past a timeout, hangs up mid-message, answers
// with a malformed packet) → fs queue → maildir {dir}/maildirs/USER. The on-failure action
// decides; no session hangs, nothing half-filtered is queued, and the next session, on a new
// connection to the milter, is filtered again.
public sealed class MilterFailureTests
{
    /// <summary>A session that fails as the milter fails, then one that goes through on a new connection.</summary>
    static async Task FailsThenRecoversAsync(ScriptedMilter milter, SmtpdInstance smtpd, Func<SmtpDialogue, Task> failing)
    {
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd)) await failing(c);
        Assert.Empty(Delivered(smtpd));
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait));
        Assert.Equal(2, milter.Connections);
    }

    [Fact]
    public async Task AMilterThatSleepsPastTheCommandTimeoutTempfailsTheCommand()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (n, f) => n == 0 && f.Code == 'R' ? MilterAct.Continue with { Delay = TimeSpan.FromSeconds(10) } : null,
        };
        await using var smtpd = Start(milter, "command-timeout 1s");
        await FailsThenRecoversAsync(milter, smtpd, async c =>
        {
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            var started = DateTime.UtcNow;
            Assert.StartsWith("451", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(8));
            // The session cannot be filtered any more: it ends.
            Assert.StartsWith("421", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
        });
        Assert.Contains("no answer within 1 s; on-failure tempfail", smtpd.Log);
    }

    [Fact]
    public async Task AMilterThatDiesMidMessageLeavesNothingQueued()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (n, f) => n == 0 && f.Code == 'B' ? new MilterAct([], HangUp: true) : null,
        };
        await using var smtpd = Start(milter);
        await FailsThenRecoversAsync(milter, smtpd, async c =>
            Assert.StartsWith("451", await SendAsync(c, $"{Me}@localhost")));
    }

    [Fact]
    public async Task AMalformedPacketIsAFailure()
    {
        await using var milter = new ScriptedMilter
        {
            // A length of zero is no packet at all.
            Script = (n, f) => n == 0 && f.Code == 'M' ? new MilterAct([], Raw: [0, 0, 0, 0]) : null,
        };
        await using var smtpd = Start(milter);
        // Outside a transaction a failure ends the session, as for a filter process.
        await FailsThenRecoversAsync(milter, smtpd, async c =>
            Assert.StartsWith("421", await c.CommandAsync("MAIL FROM:<alice@example.org>")));
        Assert.Contains("packet length 0", smtpd.Log);
    }

    [Fact]
    public async Task AnUnknownReplyIsAFailure()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (n, f) => n == 0 && f.Code == 'R' ? MilterAct.Reply(new MilterFrame('Z', [])) : null,
        };
        await using var smtpd = Start(milter);
        await FailsThenRecoversAsync(milter, smtpd, async c =>
        {
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("451", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
        });
        Assert.Contains("unexpected reply 'Z'", smtpd.Log);
    }

    [Fact]
    public async Task EndOfMessageHasItsOwnTimeout()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (n, f) => n == 0 && f.Code == 'E' ? MilterAct.Continue with { Delay = TimeSpan.FromSeconds(10) } : null,
        };
        await using var smtpd = Start(milter, "command-timeout 20s eom-timeout 1s");
        await FailsThenRecoversAsync(milter, smtpd, async c =>
        {
            var started = DateTime.UtcNow;
            Assert.StartsWith("451", await SendAsync(c, $"{Me}@localhost"));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(8));
        });
    }

    [Fact]
    public async Task OnFailureAcceptGivesTheMessageOnUnchanged()
    {
        await using var milter = new ScriptedMilter
        {
            // It dies at the end of the message, after asking for a header: the change is not applied.
            Script = (n, f) => f.Code == 'E' ? new MilterAct([MilterFrame.Of('h', "X-Half", "done")], HangUp: true) : null,
        };
        await using var smtpd = Start(milter, "on-failure accept");
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            // The milter is gone for this session: the next message is not filtered, and accepted.
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var mails = (await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 2, Wait)).Select(File.ReadAllText).ToList();
        Assert.All(mails, m => Assert.Contains("body line 1\n.dotted line\nbody line 3\n", m));
        Assert.All(mails, m => Assert.DoesNotContain("X-Half", m));
        Assert.Contains("on-failure accept", smtpd.Log);
    }

    [Fact]
    public async Task OnFailureRejectRefusesWithA5xx()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (n, f) => f.Code == 'M' ? new MilterAct([], HangUp: true) : null,
        };
        await using var smtpd = Start(milter, "on-failure reject");
        await smtpd.StartAsync();
        await using var c = await ConnectAsync(smtpd);
        Assert.StartsWith("550", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("550", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
    }

    [Fact]
    public async Task AMilterThatIsDownTempfailsOrIsSkipped()
    {
        int closed = SmtpdInstance.FreePort();
        var down = new ScriptedMilter();
        string address = $"inet:127.0.0.1:{closed}";
        await down.DisposeAsync();
        await using var milter = new ScriptedMilter();

        var config = $"""
            filter "down" milter "{address}" connect-timeout 2s
            filter "optional" milter "{address}" connect-timeout 2s on-failure accept
            filter "m" milter "{milter.Address}"
            filter "then" chain {"{"} "optional", "m" {"}"}
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "down"
            listen on 127.0.0.1 port {"{port2}"} hostname mx.test filter "then"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """;
        int port2 = SmtpdInstance.FreePort();
        await using var smtpd = new SmtpdInstance(config.Replace("{port2}", port2.ToString()));
        await smtpd.StartAsync();
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
            Assert.StartsWith("421", await c.ReadReplyAsync());
        await using (var c = await SmtpDialogue.ConnectAsync(port2))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
        }
        Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait));
        // The milter after the one that is down still saw the message.
        await milter.WaitForAsync(0, 'E', Wait);
    }

    [Fact]
    public async Task AFilterDyingBeforeTheMilterFailsTheMessageAtOnce()
    {
        // Path: ... → test-filter.py (data-line, exits on the line CRASH-IN-DATA) → the milter → ...
        FilterPeers.Require("python3", "runs the test filter");
        await using var milter = new ScriptedMilter();
        await using var smtpd = new SmtpdInstance($"""
            filter "py" proc-exec "python3 {FilterPeers.TestFilter} {"{dir}"}/maildirs/reports.log"
            filter "m" milter "{milter.Address}"
            filter "both" chain {"{"} "py", "m" {"}"}
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "both"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            var started = DateTime.UtcNow;
            Assert.StartsWith("451", await SendAsync(c, $"{Me}@localhost", "Subject: x\r\n\r\nCRASH-IN-DATA"));
            // Not after the filters' data timeout (the milter's command and end-of-message timeouts, 5.5 min here).
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        }
        // The milter never got the end of that message; the aborted transaction closed it.
        var frames = await milter.WaitForAsync(0, 'Q', Wait);
        Assert.DoesNotContain(frames, f => f.Code == 'E');
        Assert.Contains(frames.SkipWhile(f => f.Code != 'T'), f => f.Code == 'A');
        await Task.Delay(500);
        Assert.Empty(Delivered(smtpd));
    }
}
