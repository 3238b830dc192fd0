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
        Assert.Contains("X-Spam: Yes\n", mails.Single(m => m.Contains("Subject: junk")));
        Assert.DoesNotContain("X-Spam", mails.Single(m => m.Contains("Subject: ham")));
        // The Received header names the client as DNS does.
        Assert.Contains("Received: from mail.example", mails[0]);
    }
    static async Task<string> MailFromAsync(int port, string from, string sender, string helo = "mail.example")
    {
        await using var c = await SmtpDialogue.ConnectAsync(port, from: from);
        Assert.StartsWith("220", await c.ReadReplyAsync());
        Assert.StartsWith("250", await c.CommandAsync($"EHLO {helo}"));
        return await c.CommandAsync($"MAIL FROM:<{sender}>");
    }

    [Fact]
    public async Task FcrdnsSrcHeloAndMailFromTablesWithBypassRewriteAndJunk()
    {
        // 127.0.0.1 is client.test and back (FCrDNS passes); 127.0.0.2 claims liar.test, which is
        // 127.0.0.9 (fails); 127.0.0.3 has no name (fails) but is in <trusted>, whose bypass skips
        // every later mail-from filter.
        FilterPeers.Require("/usr/sbin/dnsmasq", "serves the clients' reverse DNS");
        await using var dns = new Mta.Dnsmasq(["test", "0.0.127.in-addr.arpa"], [
            "ptr-record=1.0.0.127.in-addr.arpa,client.test", "host-record=client.test,127.0.0.1",
            "ptr-record=2.0.0.127.in-addr.arpa,liar.test", "host-record=liar.test,127.0.0.9"]);
        await using var smtpd = new SmtpdInstance($$"""
            table trusted { 127.0.0.3 }
            table badhelos { "bad.example", "*.bad.example" }
            table blocked { "@spam.example" }
            table junkers { "promo@ads.example" }
            table moved { "old@localhost" }
            filter "trusted" phase mail-from match src <trusted> bypass
            filter "fcrdns" phase mail-from match !fcrdns reject "550 5.7.25 No forward-confirmed reverse DNS"
            filter "blocked" phase mail-from match mail-from <blocked> reject "550 5.7.1 Sender blocked"
            filter "junkers" phase mail-from match mail-from <junkers> junk
            filter "badhelo" phase ehlo match helo <badhelos> reject "550 5.7.1 Bad HELO"
            filter "moved" phase rcpt-to match rcpt-to <moved> rewrite "<{{Me}}@localhost>"
            filter "all" chain { "trusted", "fcrdns", "blocked", "junkers", "badhelo", "moved" }
            listen on 127.0.0.1 port {port} filter "all"
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        await smtpd.StartAsync();

        Assert.Equal("550 5.7.25 No forward-confirmed reverse DNS", await MailFromAsync(smtpd.Port, "127.0.0.2", "alice@example.org"));
        Assert.Equal("550 5.7.1 Sender blocked", await MailFromAsync(smtpd.Port, "127.0.0.1", "bob@spam.example"));
        Assert.StartsWith("250", await MailFromAsync(smtpd.Port, "127.0.0.3", "bob@spam.example")); // bypassed
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.Equal("550 5.7.1 Bad HELO", await c.CommandAsync("EHLO relay.bad.example"));
            Assert.StartsWith("250", await c.CommandAsync("EHLO mail.example"));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<promo@ads.example>"));
            // old@localhost is no user here: only the rewrite makes it deliverable.
            Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<old@localhost>"));
            Assert.StartsWith("354", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync("Subject: promo\r\n\r\nbuy now\r\n."));
        }
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO mail.example"));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("550", await c.CommandAsync("RCPT TO:<nobody-here@localhost>")); // no rewrite, no such user
            Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.StartsWith("354", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync("Subject: ham\r\n\r\nhello\r\n."));
        }

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 2, Wait);
        var mails = files.Select(File.ReadAllText).ToList();
        Assert.Equal(2, mails.Count);
        Assert.Contains("X-Spam: Yes\n", mails.Single(m => m.Contains("Subject: promo")));
        Assert.DoesNotContain("X-Spam", mails.Single(m => m.Contains("Subject: ham")));
    }

    [Fact]
    public async Task AuthTableDecidesByTheAuthenticatedUser()
    {
        // Path: SmtpDialogue → STARTTLS → AUTH PLAIN as alice or bob → smtpd, whose built-in filter
        // refuses MAIL FROM unless the user is in <staff>.
        await using var smtpd = new SmtpdInstance();
        Tls.TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        await Tls.CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"), ("bob", "builder"));
        smtpd.WriteConfig("""
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            table creds file:{dir}/creds
            table staff { "alice" }
            filter "staff" phase mail-from match !auth <staff> reject "550 5.7.1 Not allowed to send"
            listen on 127.0.0.1 port {port} tls pki tlscert auth <creds> filter "staff"
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match auth from any for local action "local"
            """);
        await smtpd.StartAsync();
        foreach (var (user, password, expected) in new[] { ("bob", "builder", "550 5.7.1 Not allowed to send"), ("alice", "wonderland", "250") })
        {
            await using var c = await SmtpDialogue.ConnectAsync(smtpd.Port);
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("220", await c.CommandAsync("STARTTLS"));
            await c.StartTlsAsync();
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("235", await c.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{user}\0{password}"))));
            Assert.StartsWith(expected, await c.CommandAsync($"MAIL FROM:<{user}@example.org>"));
        }
    }
}
