using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.EndToEnd;

// Path of the mail: raw client → smtpd (127.0.0.1:{port}) → fs queue → [SIGKILL] → smtpd
// restarted on the same spool → Mda → mbox {dir}/mail/USER. Nothing that got 250 may be lost,
// nothing that did not may be delivered or left half-written.
public sealed class CrashTests
{
    const string MboxConfig = """
        listen on 127.0.0.1 port {port}
        action "local" mbox
        match from local for local action "local"
        """;

    static async Task<string> SendOneAsync(int port, string rcpt, string subject)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        Assert.StartsWith("220", await d.ReadReplyAsync());
        Assert.StartsWith("250", await d.CommandAsync("EHLO crash.test"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        string reply = await d.CommandAsync($"Subject: {subject}\r\n\r\nbody of {subject}\r\n.");
        Assert.StartsWith("250 2.0.0", reply);
        return reply;
    }

    static bool QueueIsEmpty(string spool) =>
        Directory.GetDirectories(Path.Combine(spool, "queue")).All(b => Directory.GetDirectories(b).Length == 0);

    [Fact]
    public async Task Sigkill_after_250_before_delivery_then_restart_delivers_exactly_once()
    {
        await using var smtpd = new SmtpdInstance(MboxConfig);
        string me = TestUsers.Recipient;
        string mbox = Path.Combine(smtpd.MailSpool, me);
        // A mail reader holds the mailbox's dot-lock: delivery cannot happen yet.
        string dotlock = mbox + ".lock";
        await File.WriteAllTextAsync(dotlock, "");
        await smtpd.StartAsync();

        await SendOneAsync(smtpd.Port, $"{me}@localhost", "survivor");
        await smtpd.WaitForLogAsync("result=TempFail", TimeSpan.FromSeconds(60));
        await smtpd.KillAsync();
        Assert.False(File.Exists(mbox) && Mailboxes.CountMboxMessages(await Mailboxes.ReadMboxAsync(mbox)) > 0);
        Assert.False(QueueIsEmpty(smtpd.Spool));

        File.Delete(dotlock);
        await smtpd.StartAsync();
        Assert.Contains("1 envelope(s) in queue", smtpd.Log);
        await smtpd.WaitForLogAsync("result=Ok", TimeSpan.FromSeconds(60));
        string text = await Mailboxes.WaitForMboxAsync(mbox, 1, TimeSpan.FromSeconds(10));
        Assert.Equal(1, Mailboxes.CountMboxMessages(text));
        Assert.Contains("body of survivor", text);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!QueueIsEmpty(smtpd.Spool) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(QueueIsEmpty(smtpd.Spool));
        await Task.Delay(1000); // nothing more arrives
        Assert.Equal(1, Mailboxes.CountMboxMessages(await Mailboxes.ReadMboxAsync(mbox)));
    }

    [Fact]
    public async Task Sigkill_during_data_leaves_nothing_and_delivers_nothing()
    {
        await using var smtpd = new SmtpdInstance(MboxConfig);
        await smtpd.StartAsync();
        string me = TestUsers.Recipient;

        using (var client = new TcpClient())
        {
            await client.ConnectAsync("127.0.0.1", smtpd.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"EHLO crash.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<{me}@localhost>\r\nDATA\r\n"));
            await stream.WriteAsync(Encoding.ASCII.GetBytes("Subject: half\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 70) + "\r\n", 3000))));
            // Wait until the message is being received into incoming/.
            string incoming = Path.Combine(smtpd.Spool, "incoming");
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (Directory.GetDirectories(incoming).Length == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
            Assert.NotEmpty(Directory.GetDirectories(incoming));
            await smtpd.KillAsync();
        }

        Assert.True(QueueIsEmpty(smtpd.Spool));
        await smtpd.StartAsync();
        Assert.Contains("0 envelope(s) in queue", smtpd.Log);
        Assert.Empty(Directory.GetDirectories(Path.Combine(smtpd.Spool, "incoming")));
        await Task.Delay(1500);
        Assert.False(File.Exists(Path.Combine(smtpd.MailSpool, me)));
        Assert.DoesNotContain("result=Ok", smtpd.Log);
    }

    [Fact]
    public async Task Sigkill_after_a_permanent_failure_before_its_report_is_queued_still_reports_it_once()
    {
        // The next hop refuses the recipient for good (550): the sender must get one report,
        // even when smtpd dies between the failure and the queuing of the report.
        await using var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "accepted.example" action "local"
            """);
        await peer.StartAsync();
        await using var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        string me = TestUsers.Recipient;
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO crash.test");
            Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{me}@localhost>"));
            Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<nobody@refused.example>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync("Subject: doomed\r\n\r\nbody\r\n."));
        }
        // Reports are grouped for 2 s: the kill comes in that window.
        await smtpd.WaitForLogAsync("result=\"PermFail\"", TimeSpan.FromSeconds(30));
        await smtpd.KillAsync();
        Assert.DoesNotContain(" bounce msgid=", smtpd.Log);

        await smtpd.StartAsync();
        Assert.Contains("1 envelope(s) in queue", smtpd.Log); // the failed envelope is still there
        string maildir = Path.Combine(smtpd.Maildirs, me);
        var reports = await Mailboxes.WaitForMaildirAsync(maildir, 1, TimeSpan.FromSeconds(30));
        Assert.Single(reports);
        Assert.Contains("nobody@refused.example", await File.ReadAllTextAsync(reports[0]));
        await Task.Delay(3000); // nothing more arrives
        Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
        Assert.True(QueueIsEmpty(smtpd.Spool));
    }
}
