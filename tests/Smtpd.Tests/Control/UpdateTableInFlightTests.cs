using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Control;

// `smtpctl update table` while mail is in flight (issue 8): a queued message waiting for delivery
// and a client in the middle of a transaction. The table changes under both; neither is dropped,
// the open transaction sees the new entry at its next RCPT, and both messages are delivered.
public sealed class UpdateTableInFlightTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Update_table_with_a_transaction_open_and_a_message_queued_drops_neither()
    {
        var smtpd = new SmtpdInstance("""
            table aliases file:{dir}/aliases
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
            match from any for domain "example.org" action "local"
            """);
        await using var _ = smtpd;
        string aliases = Path.Combine(smtpd.Dir, "aliases");
        File.WriteAllText(aliases, $"sales: {TestUsers.Recipient}\n");
        await smtpd.StartAsync();
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mda")).Code);

        await using (var queued = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await queued.ReadReplyAsync();
            await queued.CommandAsync("EHLO client.example");
            await queued.CommandAsync("MAIL FROM:<alice@example.org>");
            Assert.StartsWith("250", await queued.CommandAsync("RCPT TO:<sales@example.org>"));
            await queued.CommandAsync("DATA");
            Assert.StartsWith("250", await queued.CommandAsync("Subject: queued before the update\r\n\r\nwaits\r\n."));
        }

        await using var open = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await open.ReadReplyAsync();
        await open.CommandAsync("EHLO client.example");
        await open.CommandAsync("MAIL FROM:<alice@example.org>");
        Assert.StartsWith("250", await open.CommandAsync("RCPT TO:<sales@example.org>"));
        Assert.StartsWith("550", await open.CommandAsync("RCPT TO:<support@example.org>"));

        File.WriteAllText(aliases, $"sales: {TestUsers.Recipient}\nsupport: {TestUsers.Recipient}\n");
        var (code, output) = await Smtpctl.RunAsync(smtpd, "update", "table", "aliases");
        Assert.Equal((0, "command succeeded"), (code, output.Trim()));

        // The same transaction goes on, and sees the new entry.
        Assert.StartsWith("250", await open.CommandAsync("RCPT TO:<support@example.org>"));
        Assert.StartsWith("354", await open.CommandAsync("DATA"));
        Assert.StartsWith("250", await open.CommandAsync("Subject: sent across the update\r\n\r\nboth\r\n."));
        Assert.StartsWith("221", await open.CommandAsync("QUIT"));

        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "mda")).Code);
        // Three deliveries: the queued message to sales, the second one to sales and to support.
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 3, Timeout);
        var texts = files.Select(File.ReadAllText).ToList();
        Assert.Single(texts, t => t.Contains("Subject: queued before the update"));
        Assert.Single(texts, t => t.Contains("Subject: sent across the update") && t.Contains("Delivered-To: sales@example.org"));
        Assert.Single(texts, t => t.Contains("Subject: sent across the update") && t.Contains("Delivered-To: support@example.org"));
        Assert.DoesNotContain("fatal", smtpd.Log);
    }
}
