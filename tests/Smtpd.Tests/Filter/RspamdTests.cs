using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter rspamd") ⇄
// Debian's filter-rspamd (smtpd-filters(7)) → HTTP /checkv2 → a private rspamd on loopback →
// back through the filter (headers added, or a reject at commit) → fs queue → maildir.
public sealed class RspamdTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly string Me = EndToEnd.TestUsers.Recipient;
    const string Gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    [Fact]
    public async Task GtubeIsRejectedAndAHamMessagePassesWithRspamdsHeaders()
    {
        FilterPeers.Require(FilterPeers.Rspamd, "Debian's opensmtpd-filter-rspamd");
        FilterPeers.Require("/usr/sbin/dnsmasq", "answers rspamd's DNS queries on loopback");
        await using var dns = new Mta.Dnsmasq(["test"], []);
        await using var rspamd = await RspamdServer.StartAsync(dns.Resolver);
        await using var smtpd = new SmtpdInstance($"""
            filter "rspamd" proc-exec "{FilterPeers.Rspamd} -url {rspamd.Url}"
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
            // filter-rspamd 0.1.7 posts the message without its last newline, and rspamd 3.4 does not
            // see GTUBE on a last line without one: the test message goes on after it, as real mail does.
            foreach (var (subject, body, expected) in new[] { ("gtube", Gtube + "\r\nBye.", "550 Gtube pattern"), ("ham", "Just a normal message.", "250 ") })
            {
                Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
                Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
                Assert.StartsWith("354", await c.CommandAsync("DATA"));
                string reply = await c.CommandAsync(
                    $"From: alice@example.org\r\nTo: {Me}@localhost\r\nSubject: {subject}\r\nDate: Wed, 02 Dec 2026 12:00:00 +0000\r\n" +
                    $"Message-ID: <{subject}@example.org>\r\n\r\n{body}\r\n.");
                Assert.True(reply.StartsWith(expected, StringComparison.Ordinal), $"{reply}\n{smtpd.Log}\n{rspamd.Log}");
            }
        }

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", Me), 1, Wait);
        string mail = File.ReadAllText(Assert.Single(files));
        Assert.Contains("Subject: ham", mail);
        Assert.Contains("Authentication-Results: ", mail); // added by rspamd (milter headers), not by us
        Assert.Contains("Just a normal message.", mail);
        Assert.Contains("smtp failed-command", smtpd.Log); // the GTUBE message, refused at the end of DATA
        await Task.Delay(500);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Dir, "maildirs", Me, "new")));
    }
}
