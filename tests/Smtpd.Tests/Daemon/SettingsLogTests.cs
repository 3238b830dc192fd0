using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Daemon;

// What an admin sees of the settings: the real smtpd says at start what it runs with that a
// default instance would not, and refuses a -B it does not know before doing anything.
public sealed class SettingsLogTests
{
    const string Config = """
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from local for local action "local"
        """;

    [Fact]
    public async Task Each_non_default_setting_is_logged_once_at_start()
    {
        await using var smtpd = new SmtpdInstance(Config);
        smtpd.Environment["SMTPD_SESSION_TIMEOUT"] = "42";
        await smtpd.StartAsync("-B", "queue=ram");
        string log = smtpd.Log;
        Assert.Equal(1, SmtpdInstance.Occurrences(log, $"info: setting SMTPD_SPOOL={smtpd.Spool}\n"));
        Assert.Equal(1, SmtpdInstance.Occurrences(log, "info: setting SMTPD_SESSION_TIMEOUT=42\n"));
        Assert.Equal(1, SmtpdInstance.Occurrences(log, "info: setting -B queue=ram\n"));
        Assert.DoesNotContain("SMTPD_MTA_PORT", log);
        // Logged before the daemon says it listens.
        Assert.True(log.IndexOf("info: setting SMTPD_SESSION_TIMEOUT", StringComparison.Ordinal) < log.IndexOf("listening on", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_backend_is_refused_with_the_usage()
    {
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-B", "queue=disk");
        Assert.Equal(64, code);
        Assert.Contains("smtpd: invalid backend specifier queue=disk: unknown queue backend 'disk' (fs, ram, null)", stderr);
        Assert.Contains("usage: smtpd", stderr);
    }

    [Fact]
    public async Task B_chooses_the_ram_queue_as_the_environment_did()
    {
        await using var smtpd = new SmtpdInstance(Config);
        await smtpd.StartAsync("-B", "queue=ram,scheduler=ramqueue");
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            await d.CommandAsync("MAIL FROM:<a@example.org>");
            await d.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@localhost>");
            await d.CommandAsync("DATA");
            Assert.StartsWith("250", await d.CommandAsync("Subject: backend\r\n\r\nbody\r\n."));
        }
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, TimeSpan.FromSeconds(30));
        string queue = Path.Combine(smtpd.Spool, "queue");
        Assert.False(Directory.Exists(queue) && Directory.GetFiles(queue, "*", SearchOption.AllDirectories).Length > 0);
    }
}
