using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter rspamd", a milter)
// ⇄ Debian's rspamd, its rspamd_proxy worker in milter mode on loopback (self-scan) → fs queue →
// maildir {dir}/maildirs/USER. rspamd's own reply refuses GTUBE; its headers go on a clean message.
public sealed class RspamdMilterTests
{
    const string Gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    [Fact]
    public async Task GtubeIsRejectedWithRspamdsReplyAndACleanMessagePassesWithItsHeaders()
    {
        FilterPeers.Require("/usr/sbin/dnsmasq", "answers rspamd's DNS queries on loopback");
        await using var dns = new Mta.Dnsmasq(["test"], []);
        await using var rspamd = await RspamdServer.StartAsync(dns.Resolver);
        await using var smtpd = new SmtpdInstance($"""
            filter "rspamd" milter "inet:127.0.0.1:{rspamd.ProxyPort}" eom-timeout 60s
            listen on 127.0.0.1 port {"{port}"} filter "rspamd"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        await smtpd.StartAsync();

        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            foreach (var (subject, body, expected) in new[] { ("gtube", Gtube, "554 5.7.1 Gtube pattern"), ("ham", "Just a normal message.", "250 ") })
            {
                Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
                Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{MilterTests.Me}@localhost>"));
                Assert.StartsWith("354", await c.CommandAsync("DATA"));
                string reply = await c.CommandAsync(
                    $"From: alice@example.org\r\nTo: {MilterTests.Me}@localhost\r\nSubject: {subject}\r\nDate: Wed, 02 Dec 2026 12:00:00 +0000\r\n" +
                    $"Message-ID: <{subject}@example.org>\r\n\r\n{body}\r\n.");
                Assert.True(reply.StartsWith(expected, StringComparison.Ordinal), $"{reply}\n{smtpd.Log}\n{rspamd.Log}");
            }
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, MilterTests.Me), 1, MilterTests.Wait);
        string mail = File.ReadAllText(Assert.Single(files));
        Assert.Contains("Subject: ham", mail);
        Assert.Contains("Authentication-Results: ", mail); // added by rspamd at end of message, not by us
        Assert.Contains("Just a normal message.", mail);
        await Task.Delay(500);
        Assert.Single(MilterTests.Delivered(smtpd));
    }
}
