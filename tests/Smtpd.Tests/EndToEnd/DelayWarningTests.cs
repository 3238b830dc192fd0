using MimeKit;
using Smtpd.Tests.Control;

namespace Smtpd.Tests.EndToEnd;

// A next hop that answers 451 for longer than the warn interval: the sender first gets a delay
// warning, then, when the envelope expires, a failure report.
public sealed class DelayWarningTests
{
    [Fact]
    public async Task Delay_warning_after_the_warn_interval_then_failure_at_expiry()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = new SmtpdInstance($$"""
            bounce warn-interval 2s
            queue ttl 10s
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            await d.CommandAsync($"MAIL FROM:<{TestUsers.Recipient}@localhost>");
            await d.CommandAsync("RCPT TO:<slow@far.example>");
            await d.CommandAsync("DATA");
            Assert.StartsWith("250", await d.CommandAsync("Subject: slow one\r\n\r\nbody\r\n."));
        }
        await smtpd.WaitForLogAsync("result=\"TempFail\"", TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal("1 envelope scheduled", (await Smtpctl.RunAsync(smtpd, "schedule", "all")).Output.Trim());

        string maildir = Path.Combine(smtpd.Maildirs, TestUsers.Recipient);
        var first = await Mailboxes.WaitForMaildirAsync(maildir, 1, TimeSpan.FromSeconds(30));
        var warning = MimeMessage.Load(first[0]);
        Assert.Equal("Delivery status notification: delayed", warning.Subject);
        var status = Assert.IsType<MessageDeliveryStatus>(Assert.IsType<MultipartReport>(warning.Body)[1]);
        var group = status.StatusGroups.First(g => g.Contains("Final-Recipient"));
        Assert.Equal("delayed", group["Action"]);
        Assert.Equal("4.3.0", group["Status"]);

        var both = await Mailboxes.WaitForMaildirAsync(maildir, 2, TimeSpan.FromSeconds(30));
        var failure = both.Select(f => MimeMessage.Load(f)).Single(m => m.Subject == "Delivery status notification: failed");
        Assert.Contains("Envelope expired", failure.TextBody);
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
        Assert.Equal(0, peer.Accepted);
    }
}
