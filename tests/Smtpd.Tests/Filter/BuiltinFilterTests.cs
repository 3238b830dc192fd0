using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter;

// Path of the mail: SmtpDialogue (from 127.0.0.1, which DNS names client.test, or 127.0.0.2,
// which has no name) → smtpd on 127.0.0.1:{port} (listener "filter all", a chain of built-in
// filters; reverse DNS from a private dnsmasq) → fs queue → maildir {dir}/maildirs/USER.
public sealed class BuiltinFilterTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly string Me = EndToEnd.TestUsers.Recipient;

    const string Config = """
        table blocked { "blocked@localhost" }
        filter "nordns" phase connect match !rdns disconnect "550 5.7.1 No reverse DNS"
        filter "badhelo" phase ehlo match helo regex "^spam[0-9]*\." reject "550 Go away"
        filter "rcpt" phase rcpt-to match rcpt-to <blocked> reject "550 5.1.1 Blocked recipient"
        filter "junk" phase mail-from match mail-from regex "@junk\.example$" junk
        filter "all" chain { "nordns", "badhelo", "rcpt", "junk" }
        listen on 127.0.0.1 port {port} filter "all"
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from local for local action "local"
        """;

    [Fact]
    public async Task RdnsRegexTableAndJunkDecideAsConfigured()
    {
        FilterPeers.Require("/usr/sbin/dnsmasq", "serves the client's reverse DNS");
        await using var dns = new Mta.Dnsmasq(["test", "0.0.127.in-addr.arpa"],
            ["ptr-record=1.0.0.127.in-addr.arpa,client.test", "host-record=client.test,127.0.0.1"]);
        await using var smtpd = new SmtpdInstance(Config);
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        await smtpd.StartAsync();

        // 127.0.0.2 has no reverse DNS: refused before the banner, and the connection closed.
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port, from: "127.0.0.2"))
        {
            Assert.Equal("550 5.7.1 No reverse DNS", await c.ReadReplyAsync());
            Assert.Null(await c.ReadReplyAsync());
        }

        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.Equal("550 Go away", await c.CommandAsync("EHLO spam42.example"));
            Assert.StartsWith("250", await c.CommandAsync("EHLO mail.example"));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<bob@junk.example>"));
            Assert.Equal("550 5.1.1 Blocked recipient", await c.CommandAsync("RCPT TO:<blocked@localhost>"));
            Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.StartsWith("354", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync("Subject: junk\r\n\r\nspam, spam, spam\r\n."));
        }
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO mail.example"));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.StartsWith("354", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync("Subject: ham\r\n\r\nhello\r\n."));
        }

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", Me), 2, Wait);
        var mails = files.Select(File.ReadAllText).ToList();
        Assert.Equal(2, mails.Count);
        Assert.Contains("X-Spam: yes\n", mails.Single(m => m.Contains("Subject: junk")));
        Assert.DoesNotContain("X-Spam", mails.Single(m => m.Contains("Subject: ham")));
        // The Received header names the client as DNS does.
        Assert.Contains("Received: from mail.example", mails[0]);
    }
}
