namespace Smtpd.Tests.EndToEnd;

// Path of the mail: raw client → smtpd → fs queue → scheduler → relay action; the next hop is not
// reachable, so every try fails temporarily, and with "queue ttl 3s" the envelope expires:
// logged, reported to its sender, and removed from the queue once the report is queued.
public sealed class ExpiryTests
{
    [Fact]
    public async Task Envelope_that_cannot_be_delivered_expires_and_leaves_the_queue()
    {
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            queue ttl 3s
            action "out" relay
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO expiry.test");
            await d.CommandAsync("MAIL FROM:<a@expiry.test>");
            Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<b@remote.example>"));
            await d.CommandAsync("DATA");
            Assert.StartsWith("250", await d.CommandAsync("Subject: x\r\n\r\nx\r\n."));
        }
        await smtpd.WaitForLogAsync("result=\"TempFail\"", TimeSpan.FromSeconds(20));
        await smtpd.WaitForLogAsync("stat=\"Envelope expired", TimeSpan.FromSeconds(20));
        Assert.Matches(@"queue expire evpid=[0-9a-f]{16} from=<a@expiry\.test> to=<b@remote\.example> delay=\d+s result=PermFail", smtpd.Log);
        // The expired envelope leaves the queue once its failure report is queued in its place.
        string msgid = System.Text.RegularExpressions.Regex.Match(smtpd.Log, "smtp message msgid=([0-9a-f]{8})").Groups[1].Value;
        await smtpd.WaitForLogAsync($"for msgid={msgid} nrcpt=1", TimeSpan.FromSeconds(20));
        string original = Path.Combine(smtpd.Spool, "queue", msgid[..2], msgid);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Directory.Exists(original) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.False(Directory.Exists(original), "the expired message is still in the queue:\n" + smtpd.Log);
    }
}
