using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Admin;

// Issue 18, item 13, as root (privilege separation on: the helper reads the users' 0600 files):
//   a file smtpdtest hands to offline/ while smtpd runs --> enqueued at once, as smtpdtest --> maildir
//   a file a flush had claimed (NAME.sending) when smtpd died --> enqueued at the next start
public sealed class OfflineWatchTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    const string Config = """
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from local for local action "local"
        """;

    static async Task DropAsync(string path, string text)
    {
        await File.WriteAllTextAsync(path + ".tmp", text);
        File.SetUnixFileMode(path + ".tmp", (UnixFileMode)0b110_000_000);
        Assert.Equal(0, (await ExternalTool.RunAsync("chown", [TestUsers.Ordinary, path + ".tmp"])).Code);
        File.Move(path + ".tmp", path); // as sendmail does: the rename is the arrival
    }

    [SkippableFact]
    public async Task A_file_handed_to_offline_while_smtpd_runs_is_sent_at_once_as_its_owner()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root: the file belongs to another user");
        Skip.IfNot((await ExternalTool.RunAsync("id", [TestUsers.Ordinary])).Code == 0, $"user {TestUsers.Ordinary} does not exist (tests/install-peers.sh creates it)");
        await using var smtpd = new SmtpdInstance(Config);
        await smtpd.StartAsync();
        string rcpt = $"{TestUsers.Ordinary}@localhost";
        string offline = Path.Combine(smtpd.Spool, "offline");
        await DropAsync(Path.Combine(offline, "1700000000.handed"), $"someone@else.example\n{rcpt}\n\nSubject: handed over\n\nwhile running\n");

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Ordinary), 1, TimeSpan.FromSeconds(10));
        string mail = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("while running", mail);
        Assert.Contains($"Return-Path: <{TestUsers.Ordinary}@", mail);
        for (var deadline = DateTime.UtcNow + Timeout; Directory.GetFiles(offline).Length > 0 && DateTime.UtcNow < deadline;) await Task.Delay(50);
        Assert.Empty(Directory.GetFiles(offline));
    }

    [SkippableFact]
    public async Task A_file_claimed_when_smtpd_died_is_sent_at_the_next_start()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root: the file belongs to another user");
        Skip.IfNot((await ExternalTool.RunAsync("id", [TestUsers.Ordinary])).Code == 0, $"user {TestUsers.Ordinary} does not exist (tests/install-peers.sh creates it)");
        await using var smtpd = new SmtpdInstance(Config);
        await smtpd.StartAsync();
        await smtpd.KillAsync();
        string offline = Path.Combine(smtpd.Spool, "offline");
        await DropAsync(Path.Combine(offline, "1700000000.claimed.sending"), $"{TestUsers.Ordinary}@localhost\n{TestUsers.Ordinary}@localhost\n\nSubject: claimed\n\ncaught mid-flush\n");

        await smtpd.StartAsync();
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Ordinary), 1, Timeout);
        Assert.Contains("caught mid-flush", await File.ReadAllTextAsync(files[0]));
        for (var deadline = DateTime.UtcNow + Timeout; Directory.GetFiles(offline).Length > 0 && DateTime.UtcNow < deadline;) await Task.Delay(50);
        Assert.Empty(Directory.GetFiles(offline));
    }
}
