using MimeKit;

namespace Smtpd.Tests.EndToEnd;

// Failure reports: a next hop (a second smtpd) refuses recipients with 550; the sender, a local
// user, gets exactly one RFC 3464 report for the message, naming every refused recipient.
public sealed class BounceTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static async Task<(SmtpdInstance Peer, SmtpdInstance Smtpd)> StartAsync()
    {
        var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "accepted.example" action "local"
            """);
        await peer.StartAsync();
        var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        return (peer, smtpd);
    }

    static async Task SendAsync(int port, string subject, params string[] rcpts)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{TestUsers.Recipient}@localhost>"));
        foreach (var r in rcpts) Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{r}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\nX-Marker: original-header\r\n\r\nthe body\r\n."));
    }

    [Fact]
    public async Task Three_refused_recipients_give_one_report_naming_all_three()
    {
        var (peer, smtpd) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;
        await SendAsync(smtpd.Port, "three refusals", "a@refused.example", "b@refused.example", "c@refused.example");

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        await Task.Delay(TimeSpan.FromSeconds(3)); // a second report would come within the grouping delay
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Maildirs, TestUsers.Recipient, "new")));

        var report = MimeMessage.Load(files[0]);
        Assert.StartsWith("MAILER-DAEMON@", ((MailboxAddress)report.From[0]).Address);
        Assert.Contains("Return-Path: <>", await File.ReadAllTextAsync(files[0]));
        var multipart = Assert.IsType<MultipartReport>(report.Body);
        Assert.Equal("delivery-status", multipart.ReportType);
        var status = Assert.IsType<MessageDeliveryStatus>(multipart[1]);
        var groups = status.StatusGroups.Where(g => g.Contains("Final-Recipient")).ToList();
        Assert.Contains("dns; ", status.StatusGroups[0]["Reporting-MTA"]);
        Assert.Equal(3, groups.Count);
        Assert.Equal(new[] { "rfc822; a@refused.example", "rfc822; b@refused.example", "rfc822; c@refused.example" },
            groups.Select(g => g["Final-Recipient"] ?? "").Order().ToArray());
        Assert.All(groups, g => Assert.Equal("failed", g["Action"]));
        Assert.All(groups, g => Assert.Equal("5.7.1", g["Status"]));
        Assert.All(groups, g => Assert.Contains("550", g["Diagnostic-Code"]));
        // The whole message comes back (the sender did not ask RET=HDRS).
        var original = Assert.IsType<MessagePart>(multipart[2]).Message!;
        Assert.Equal("original-header", original.Headers["X-Marker"]);
        Assert.Equal("three refusals", original.Subject);
        Assert.Equal("the body", original.TextBody?.Trim());
    }

    [Fact]
    public async Task Only_the_refused_recipient_is_reported()
    {
        var (peer, smtpd) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;
        await SendAsync(smtpd.Port, "one of two", $"{TestUsers.Recipient}@accepted.example", "nobody@refused.example");
        await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, TestUsers.Recipient), 1, Timeout);
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        string text = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("nobody@refused.example", text);
        Assert.DoesNotContain($"Final-Recipient: rfc822; {TestUsers.Recipient}@accepted.example", text);
    }

    [Fact]
    public async Task A_bounce_that_cannot_be_delivered_is_dropped_not_bounced()
    {
        var (peer, smtpd) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;
        // A bounce (empty sender) to a refused address: it fails, and nothing comes back.
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<>"));
            Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<someone@refused.example>"));
            await d.CommandAsync("DATA");
            Assert.StartsWith("250", await d.CommandAsync("Subject: a bounce\r\n\r\nreport\r\n."));
        }
        await smtpd.WaitForLogAsync("bounce-dropped", Timeout);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.DoesNotContain(" bounce msgid=", smtpd.Log);
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
    }
}
