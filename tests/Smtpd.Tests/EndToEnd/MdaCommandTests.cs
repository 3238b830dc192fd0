using Smtpd.Mda;
using Smtpd.Tests.Control;

namespace Smtpd.Tests.EndToEnd;

// SmtpDialogue → smtpd on 127.0.0.1:{port} → queue → Mda → `mda` command (/bin/sh -c, as the
// recipient) writing into a world-writable drop directory: retries after exit 75, and how many
// deliveries run at once for one user.
public sealed class MdaCommandTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static string Drop(SmtpdInstance smtpd)
    {
        string drop = Path.Combine(smtpd.Dir, "drop");
        Directory.CreateDirectory(drop);
        File.SetUnixFileMode(drop, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        return drop;
    }

    static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_command_that_exits_75_is_retried_and_delivers_once()
    {
        await using var smtpd = new SmtpdInstance();
        string drop = Drop(smtpd);
        string output = Path.Combine(drop, "out");
        // The first run leaves a mark and asks to be retried; the second keeps the message.
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "script" mda "if [ -e {{drop}}/tried ]; then cat >> {{output}}; else touch {{drop}}/tried; exit 75; fi"
            match from local for local action "script"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost",
            $"{TestUsers.Recipient}@localhost", "retried", "body of the retried mail"));
        await smtpd.WaitForLogAsync("result=TempFail stat=exited abnormally", Timeout);
        Assert.False(File.Exists(output));

        var (code, text) = await Smtpctl.RunAsync(smtpd, "schedule", "all");
        Assert.True(code == 0, text);
        await WaitForAsync(() => File.Exists(output) && File.ReadAllText(output).Contains("body of the retried mail"), output);
        await smtpd.WaitForLogAsync("result=Ok", Timeout);
        await Task.Delay(1000); // a second delivery, if there were one, would have started by now
        Assert.Single(File.ReadAllText(output).Split('\n'), l => l.Contains("body of the retried mail"));
        Assert.Single(smtpd.Log.Split('\n'), l => l.Contains("mda delivery") && l.Contains("result=Ok"));
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
    }

    [Fact]
    public async Task Ten_messages_for_one_user_run_at_most_the_per_user_limit_at_once()
    {
        await using var smtpd = new SmtpdInstance();
        string drop = Drop(smtpd);
        // Each delivery counts itself in and out under flock and records the highest count seen.
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "script" mda "cd {{drop}} && exec 9>>lock && flock 9 && n=$(($(cat now 2>/dev/null || echo 0) + 1)) && echo $n > now && { [ $n -le $(cat max 2>/dev/null || echo 0) ] || echo $n > max; } && flock -u 9 && cat > /dev/null && sleep 1 && flock 9 && echo $(($(cat now) - 1)) > now && echo done >> finished"
            match from local for local action "script"
            """);
        await smtpd.StartAsync();
        var sends = Enumerable.Range(0, 10).Select(i => SmtpDialogue.TryDeliverAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost",
            $"{TestUsers.Recipient}@localhost", $"message {i}", $"body {i}")).ToList();
        foreach (string reply in await Task.WhenAll(sends)) Assert.StartsWith("250", reply);

        string finished = Path.Combine(drop, "finished");
        await WaitForAsync(() => File.Exists(finished) && File.ReadAllLines(finished).Length == 10, finished);
        int max = int.Parse(File.ReadAllText(Path.Combine(drop, "max")).Trim());
        Assert.True(max <= MdaProcess.MaxDeliveriesPerUser, $"{max} deliveries ran at once for one user");
        Assert.True(max >= 2, $"only {max} at once: the deliveries did not overlap, so the limit was not exercised");
        Assert.Equal("0", File.ReadAllText(Path.Combine(drop, "now")).Trim());
    }
}
