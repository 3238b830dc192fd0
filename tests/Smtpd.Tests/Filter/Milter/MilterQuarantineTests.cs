using System.Text.Json;
using System.Text.RegularExpressions;
using Smtpd.Tests.EndToEnd;
using static Smtpd.Tests.Filter.Milter.MilterTests;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter m") ⇄ ScriptedMilter
// (SMFIR_QUARANTINE at end of message) → fs queue, the envelopes written quarantined → smtpd
// stopped and started again on the same spool → smtpctl release → maildir {dir}/maildirs/USER.
public sealed class MilterQuarantineTests
{
    static ScriptedMilter Quarantining() => new()
    {
        Script = (_, f) => f.Code == 'E' ? MilterAct.Reply(MilterFrame.Of('q', "looks odd"), new MilterFrame('a', [])) : null,
    };

    static async Task<string> SendQuarantinedAsync(SmtpdInstance smtpd)
    {
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        // The log reaches the test through a pipe: the line may follow the client's reply.
        await smtpd.WaitForLogAsync("quarantined by a milter", Wait);
        string msgid = Regex.Match(smtpd.Log, "msgid=([0-9a-f]{8}) quarantined by a milter").Groups[1].Value;
        Assert.NotEmpty(msgid);
        Assert.Contains($"held until 'smtpctl release {msgid}'", smtpd.Log);
        return msgid;
    }

    static async Task<string> RunAsync(SmtpdInstance smtpd, params string[] args)
    {
        var (code, output) = await Control.Smtpctl.RunAsync(smtpd, args);
        Assert.True(code == 0, $"smtpctl {string.Join(' ', args)}: {code} {output}");
        return output.Trim();
    }

    static async Task RestartAsync(SmtpdInstance smtpd)
    {
        await smtpd.StopAsync();
        await smtpd.StartAsync();
    }

    [Fact]
    public async Task AQuarantineSurvivesARestartAndSmtpctlReleaseLetsTheMessageGo()
    {
        await using var milter = Quarantining();
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        string msgid = await SendQuarantinedAsync(smtpd);
        string evpid = (await RunAsync(smtpd, "show", "queue")).Split('|')[0];
        // Written in the envelope file, with the milter's reason, for the admin to read.
        Assert.Contains("\nquarantine: looks odd\n", await RunAsync(smtpd, "show", "envelope", evpid) + "\n");

        await RestartAsync(smtpd);
        var line = Assert.Single((await RunAsync(smtpd, "show", "queue")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"{evpid}|", line);
        Assert.Equal(["suspend", "quarantine"], line.Split('|')[3].Split(','));
        // A reload swaps the configuration, not the queue: still held.
        await RunAsync(smtpd, "reload");
        Assert.Equal(["suspend", "quarantine"], (await RunAsync(smtpd, "show", "queue")).Split('|')[3].Split(','));
        var json = JsonDocument.Parse(await RunAsync(smtpd, "show", "queue", "-j")).RootElement;
        Assert.Equal("looks odd", json.GetProperty("quarantine").GetString());

        // Lifting every admin's pause is not a release: quarantined mail goes only when named.
        Assert.Equal("0 envelope resumed", await RunAsync(smtpd, "resume", "envelope", "all"));
        await Task.Delay(1000);
        Assert.Empty(Delivered(smtpd));
        Assert.Single((await RunAsync(smtpd, "show", "queue")).Split('\n', StringSplitOptions.RemoveEmptyEntries));

        Assert.Equal("1 envelope released", await RunAsync(smtpd, "release", msgid));
        Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait));
        await smtpd.WaitForLogAsync($"queue release evpid={evpid} (by smtpctl) quarantine=\"looks odd\"", Wait);
        Assert.Equal("0 envelope released", await RunAsync(smtpd, "release", "all"));
    }

    [Fact]
    public async Task AReleaseIsWrittenToTheQueueAndOutlivesARestart()
    {
        await using var milter = Quarantining();
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        string msgid = await SendQuarantinedAsync(smtpd);
        string evpid = (await RunAsync(smtpd, "show", "queue")).Split('|')[0];

        // Paused by the admin too: the release lifts the quarantine and leaves the pause.
        Assert.Equal("1 envelope paused", await RunAsync(smtpd, "pause", "envelope", msgid));
        Assert.Equal("1 envelope released", await RunAsync(smtpd, "release", "all"));
        Assert.DoesNotContain("quarantine", await RunAsync(smtpd, "show", "envelope", evpid));
        Assert.Equal(["suspend"], (await RunAsync(smtpd, "show", "queue")).Split('|')[3].Split(','));
        await Task.Delay(1000);
        Assert.Empty(Delivered(smtpd));

        // A pause lives in memory only; the released quarantine is on disk: after a restart it goes.
        await RestartAsync(smtpd);
        Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait));
        Assert.Empty(await RunAsync(smtpd, "show", "queue"));
    }
}
