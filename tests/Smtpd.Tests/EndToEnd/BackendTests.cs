namespace Smtpd.Tests.EndToEnd;

// The other queue and scheduler backends of seed 004 (ram, null), chosen by environment.
public sealed class BackendTests
{
    const string Config = """
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from local for local action "local"
        """;

    static async Task SendAsync(int port)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync("MAIL FROM:<a@example.org>");
        await d.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@localhost>");
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync("Subject: backend\r\n\r\nbody\r\n."));
    }

    static int SpoolFiles(SmtpdInstance smtpd) =>
        Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories).Length;

    [Fact]
    public async Task Ram_queue_delivers_without_touching_the_spool()
    {
        await using var smtpd = new SmtpdInstance(Config);
        smtpd.Environment["SMTPD_QUEUE_BACKEND"] = "ram";
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port);
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, TimeSpan.FromSeconds(30));
        Assert.False(Directory.Exists(Path.Combine(smtpd.Spool, "queue")) && SpoolFiles(smtpd) > 0);
    }

    [Fact]
    public async Task Null_scheduler_keeps_accepted_mail_queued_and_null_queue_keeps_nothing()
    {
        await using (var smtpd = new SmtpdInstance(Config))
        {
            smtpd.Environment["SMTPD_SCHEDULER_BACKEND"] = "null";
            await smtpd.StartAsync();
            await SendAsync(smtpd.Port);
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.Equal(2, SpoolFiles(smtpd)); // message + envelope, never scheduled
            Assert.False(Directory.Exists(Path.Combine(smtpd.Maildirs, TestUsers.Recipient)));
        }
        await using (var smtpd = new SmtpdInstance(Config))
        {
            smtpd.Environment["SMTPD_QUEUE_BACKEND"] = "null";
            await smtpd.StartAsync();
            await SendAsync(smtpd.Port);
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.Equal(0, Directory.Exists(Path.Combine(smtpd.Spool, "queue")) ? SpoolFiles(smtpd) : 0);
            Assert.False(Directory.Exists(Path.Combine(smtpd.Maildirs, TestUsers.Recipient)));
        }
    }
}
