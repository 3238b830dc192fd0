using System.Text.RegularExpressions;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter py") ⇄ test-filter.py
// over its stdin/stdout (smtpd-filters(7), protocol 0.7) → fs queue → maildir {dir}/maildirs/USER.
// The filter appends every report it gets to {dir}/maildirs/reports.log (world-writable: filters run as the daemon's user, _smtpd under root).
public sealed class ProcFilterTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly string Me = EndToEnd.TestUsers.Recipient;

    /// <summary>The client's reverse DNS, from a real DNS server: 127.0.0.1 is client.test, and back (unless /etc/hosts names it).</summary>
    static Mta.Dnsmasq Dns()
    {
        FilterPeers.Require("/usr/sbin/dnsmasq", "serves the client's reverse DNS");
        return new Mta.Dnsmasq(["test"], ["ptr-record=1.0.0.127.in-addr.arpa,client.test", "host-record=client.test,127.0.0.1"]);
    }

    static SmtpdInstance Start(Mta.Dnsmasq dns, int? timeoutSeconds = null)
    {
        FilterPeers.Require("python3", "runs the test filter");
        var smtpd = new SmtpdInstance($"""
            filter "py" proc-exec "python3 {FilterPeers.TestFilter} {"{dir}"}/maildirs/reports.log {Me}@localhost"
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "py"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        if (timeoutSeconds is int s) smtpd.Environment["SMTPD_FILTER_TIMEOUT"] = s.ToString();
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        return smtpd;
    }

    static async Task<string> SendAsync(SmtpDialogue c, string from, string rcpt, string body)
    {
        Assert.StartsWith("250", await c.CommandAsync($"MAIL FROM:<{from}>"));
        Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{rcpt}>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        return await c.CommandAsync($"Subject: test\r\n\r\n{body}\r\n.");
    }

    static async Task<SmtpDialogue> ConnectAsync(SmtpdInstance smtpd)
    {
        var c = await SmtpDialogue.ConnectAsync(smtpd.Port);
        Assert.StartsWith("220", await c.ReadReplyAsync());
        Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
        return c;
    }

    static string[] Delivered(SmtpdInstance smtpd) =>
        Directory.Exists(Path.Combine(smtpd.Dir, "maildirs", Me, "new"))
            ? Directory.GetFiles(Path.Combine(smtpd.Dir, "maildirs", Me, "new")).Select(File.ReadAllText).ToArray()
            : [];

    [Fact]
    public async Task RejectsRewritesAddsAHeaderAndReportsInOrder()
    {
        await using var dns = Dns();
        await using var smtpd = Start(dns);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.Equal("550 You're not welcome", await c.CommandAsync("MAIL FROM:<bob@unwelcome.example>"));
            // "redirect@localhost" is no user here: only the filter's rewrite makes it deliverable.
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", "redirect@localhost", "filtered body"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", Me), 1, Wait);
        string mail = Assert.Single(files.Select(File.ReadAllText));
        Assert.StartsWith("X-Test-Filter: seen\n", mail[mail.IndexOf("X-Test-Filter", StringComparison.Ordinal)..]);
        Assert.Contains($"Delivered-To: {Me}@localhost", mail);
        Assert.Contains("filtered body", mail);
        // The filter saw our Received: header after its own, as OpenSMTPD's filters do.
        Assert.True(mail.IndexOf("X-Test-Filter", StringComparison.Ordinal) < mail.IndexOf("Received: from client.example", StringComparison.Ordinal));

        string reports = Path.Combine(smtpd.Maildirs, "reports.log");
        var lines = await FilterPeers.WaitForLineAsync(reports, "|link-disconnect|", Wait);
        string session = Regex.Match(smtpd.Log, @"([0-9a-f]{16}) smtp connected").Groups[1].Value;
        var events = lines.Select(l => l.Split('|')).ToList();
        Assert.All(events, f =>
        {
            Assert.Equal(["report", "0.7"], f[..2]);
            Assert.Matches(@"^\d+\.\d{6}$", f[2]);
            Assert.Equal("smtp-in", f[3]);
            Assert.Equal(session, f[5]);
        });
        var times = events.Select(f => decimal.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(times.Order(), times);

        string msgid = Regex.Match(smtpd.Log, @"smtp message msgid=([0-9a-f]{8})").Groups[1].Value;
        var summary = events.Where(f => f[4] is not ("protocol-client" or "protocol-server"))
            .Select(f => string.Join("|", f[4..5].Concat(f[6..]))).ToList();
        string evpid = Regex.Match(smtpd.Log, @"smtp envelope evpid=([0-9a-f]{16})").Groups[1].Value;
        Assert.Equal([
            // /etc/hosts names 127.0.0.1 before the DNS does, as OpenSMTPD's resolver reads it.
            $"link-connect|{Smtpd.Lookup.Dns.HostsFile.Read("/etc/hosts").NameOf(System.Net.IPAddress.Loopback) ?? "client.test"}|pass|127.0.0.1:" + summary[0].Split(':')[1].Split('|')[0] + $"|127.0.0.1:{smtpd.Port}",
            "filter-response|connected|proceed",
            "link-greeting|mx.test",
            "filter-response|ehlo|proceed",
            "link-identify|EHLO|client.example",
            "filter-response|mail-from|reject|550 You're not welcome",
            "filter-response|mail-from|proceed",
            $"tx-begin|{msgid}",
            $"tx-mail|{msgid}|ok|alice@example.org",
            $"filter-response|rcpt-to|rewrite|<{Me}@localhost>",
            $"tx-rcpt|{msgid}|ok|redirect@localhost", // as the client wrote it, like OpenSMTPD
            "filter-response|data|proceed",
            $"tx-data|{msgid}|ok",
            "filter-response|commit|proceed",
            $"tx-envelope|{msgid}|{evpid}",
            $"tx-commit|{msgid}|" + Regex.Match(smtpd.Log, @"smtp message msgid=[0-9a-f]{8} size=(\d+)").Groups[1].Value,
            $"tx-reset|{msgid}",
            "filter-response|quit|proceed",
            "link-disconnect",
        ], summary);

        // The dialogue itself, both ways.
        Assert.Contains(lines, l => l.EndsWith("|protocol-client|" + session + "|MAIL FROM:<bob@unwelcome.example>", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("|protocol-server|" + session + "|550 You're not welcome", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("|protocol-client|" + session + "|.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFilterThatExitsFailsItsSessionsAndIsRestartedForTheNext()
    {
        await using var dns = Dns();
        await using var smtpd = Start(dns);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            string reply = await c.CommandAsync("MAIL FROM:<crash@example.org>");
            Assert.Matches("^4[0-9][0-9] ", reply);
        }
        await smtpd.WaitForLogAsync("exited with status 3", Wait);

        await using (var c = await ConnectAsync(smtpd))
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "after the restart"));

        // It dies again in the middle of a message: that message is not accepted, unfiltered or not.
        await using (var c = await ConnectAsync(smtpd))
            Assert.StartsWith("451", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "CRASH-IN-DATA"));
        await smtpd.WaitForLogAsync("exited with status 4", Wait);

        await using (var c = await ConnectAsync(smtpd))
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "after the second restart"));

        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", Me), 2, Wait);
        await smtpd.WaitForLogAsync("result=Ok", Wait, count: 2);
        var mails = Delivered(smtpd);
        Assert.Equal(2, mails.Length);
        Assert.All(mails, m => Assert.Contains("X-Test-Filter: seen", m));
        Assert.DoesNotContain(mails, m => m.Contains("CRASH-IN-DATA"));
        Assert.Contains("warn: filter py", smtpd.Log);
    }

    [Fact]
    public async Task AFilterThatHangsTimesOutAndIsRestartedForTheNext()
    {
        await using var dns = Dns();
        await using var smtpd = Start(dns, timeoutSeconds: 2);
        await smtpd.StartAsync();
        var started = DateTime.UtcNow;
        await using (var c = await ConnectAsync(smtpd))
            Assert.Matches("^4[0-9][0-9] ", await c.CommandAsync("MAIL FROM:<hang@example.org>"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        Assert.Contains("no answer to mail-from within 2 s", smtpd.Log);

        await using (var c = await ConnectAsync(smtpd))
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "after the hang"));

        // It hangs holding a message: the client gets 451 once the timeout is over, nothing is stored.
        started = DateTime.UtcNow;
        await using (var c = await ConnectAsync(smtpd))
            Assert.StartsWith("451", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "HANG-IN-DATA"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(12));
        await using (var c = await ConnectAsync(smtpd))
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "after the second hang"));

        await smtpd.WaitForLogAsync("result=Ok", Wait, count: 2);
        var mails = Delivered(smtpd);
        Assert.Equal(2, mails.Length);
        Assert.All(mails, m => Assert.Contains("X-Test-Filter: seen", m));
        Assert.DoesNotContain(mails, m => m.Contains("HANG-IN-DATA"));
    }

    [Fact]
    public async Task TlsAndAuthAreReportedAndCredentialsAreNot()
    {
        // Path: SmtpDialogue → STARTTLS → AUTH PLAIN → smtpd (chain: built-in "needauth", then test-filter.py).
        FilterPeers.Require("python3", "runs the test filter");
        await using var smtpd = new SmtpdInstance();
        Tls.TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        await Tls.CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"));
        smtpd.WriteConfig($"""
            pki tlscert cert "{"{dir}"}/mx.crt"
            pki tlscert key "{"{dir}"}/mx.key"
            table creds file:{"{dir}"}/creds
            filter "py" proc-exec "python3 {FilterPeers.TestFilter} {"{dir}"}/maildirs/reports.log"
            filter "needauth" phase mail-from match !auth reject "530 5.7.0 Authenticate first"
            filter "both" chain {"{"} "needauth", "py" {"}"}
            listen on 127.0.0.1 port {"{port}"} tls pki tlscert auth-optional <creds> filter "both"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from any for local action "local"
            """);
        await smtpd.StartAsync();
        string secret = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("\0alice\0wonderland"));
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("220", await c.CommandAsync("STARTTLS"));
            await c.StartTlsAsync();
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.Equal("530 5.7.0 Authenticate first", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("535", await c.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("\0alice\0wrong"))));
            Assert.StartsWith("235", await c.CommandAsync("AUTH PLAIN " + secret));
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "after auth"));
        }
        var lines = await FilterPeers.WaitForLineAsync(Path.Combine(smtpd.Maildirs, "reports.log"), "|link-disconnect|", Wait);
        Assert.Contains(lines, l => Regex.IsMatch(l, @"\|link-tls\|[0-9a-f]{16}\|TLSv1\.[23]:[A-Z0-9_]+:(128|256)$"));
        Assert.Contains(lines, l => l.EndsWith("|link-auth|" + l.Split('|')[5] + "|fail|alice", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("|pass|alice", StringComparison.Ordinal) && l.Contains("|link-auth|"));
        Assert.Contains(lines, l => l.EndsWith("|protocol-client|" + l.Split('|')[5] + "|AUTH PLAIN ********", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(secret) || l.Contains("wonderland"));
        Assert.Contains(lines, l => l.EndsWith("|filter-response|" + l.Split('|')[5] + "|mail-from|reject|530 5.7.0 Authenticate first", StringComparison.Ordinal));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", Me), 1, Wait);
    }
    [Fact]
    public async Task AProcessFilterAnswersAtHeloStarttlsAuthAndData()
    {
        // Path: SmtpDialogue → (STARTTLS, AUTH PLAIN) → smtpd (listener "filter py") ⇄ test-filter.py,
        // which refuses by the HELO name the session gave (see test-filter.py) → maildir.
        FilterPeers.Require("python3", "runs the test filter");
        await using var smtpd = new SmtpdInstance();
        Tls.TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        await Tls.CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"));
        smtpd.WriteConfig($"""
            pki tlscert cert "{"{dir}"}/mx.crt"
            pki tlscert key "{"{dir}"}/mx.key"
            table creds file:{"{dir}"}/creds
            filter "py" proc-exec "python3 {FilterPeers.TestFilter} {"{dir}"}/maildirs/reports.log"
            listen on 127.0.0.1 port {"{port}"} tls pki tlscert auth-optional <creds> filter "py"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from any for local action "local"
            """);
        await smtpd.StartAsync();
        string secret = "AUTH PLAIN " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("\0alice\0wonderland"));

        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.Equal("550 5.7.1 Bad helo", await c.CommandAsync("HELO reject.example"));
            Assert.StartsWith("503", await c.CommandAsync("MAIL FROM:<alice@example.org>")); // the refused HELO did not count
            Assert.StartsWith("250", await c.CommandAsync("EHLO notls.example"));
            Assert.Equal("454 4.7.0 TLS not available to you", await c.CommandAsync("STARTTLS"));
            Assert.StartsWith("250", await c.CommandAsync("NOOP")); // still in clear, still talking
        }
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO noauth.example"));
            Assert.StartsWith("220", await c.CommandAsync("STARTTLS"));
            await c.StartTlsAsync();
            Assert.StartsWith("250", await c.CommandAsync("EHLO noauth.example"));
            Assert.Equal("535 5.7.8 Not for you", await c.CommandAsync(secret));
        }
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("220", await c.CommandAsync("STARTTLS"));
            await c.StartTlsAsync();
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("235", await c.CommandAsync(secret));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<nodata@example.org>"));
            Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.Equal("554 5.7.1 No data for you", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync("RSET"));
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "after the refused DATA"));
        }
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait);
        Assert.Contains("after the refused DATA", File.ReadAllText(Assert.Single(files)));
        var lines = await FilterPeers.WaitForLineAsync(Path.Combine(smtpd.Maildirs, "reports.log"), "|filter-response|", Wait);
        foreach (var response in new[] { "helo|reject|550 5.7.1 Bad helo", "tls|reject|454 4.7.0 TLS not available to you",
                                         "auth|reject|535 5.7.8 Not for you", "data|reject|554 5.7.1 No data for you" })
            Assert.Contains(lines, l => l.Contains("|filter-response|") && l.EndsWith(response, StringComparison.Ordinal));
    }

    [Fact]
    public async Task JunkDisconnectAndReportAnswersFromAProcessFilter()
    {
        await using var dns = Dns();
        await using var smtpd = Start(dns);
        await smtpd.StartAsync();
        // Junk at EHLO marks the whole session. So does junk at MAIL FROM: as in OpenSMTPD
        // (smtp_session.c), the transaction only exists once MAIL FROM has passed the filters.
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO junk.example"));
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "junk session one"));
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "junk session two"));
        }
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, "junk@example.org", $"{Me}@localhost", "from a junk sender"));
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "after a junk sender"));
        }
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, "alice@example.org", $"{Me}@localhost", "clean transaction"));
            Assert.StartsWith("250", await SendAsync(c, "report@example.org", $"{Me}@localhost", "reported sender"));
        }
        // Disconnect: the filter's reply, then the connection is closed.
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.Equal("421 4.7.0 Go away", await c.CommandAsync("EHLO disconnect.example"));
            Assert.Null(await c.ReadReplyAsync());
        }
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.Equal("421 4.7.0 Bye now", await c.CommandAsync("MAIL FROM:<bye@example.org>"));
            Assert.Null(await c.ReadReplyAsync());
        }

        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 6, Wait);
        var mails = Delivered(smtpd);
        Assert.Equal(6, mails.Length);
        string Mail(string body) => mails.Single(m => m.Contains(body));
        foreach (var junk in new[] { "junk session one", "junk session two", "from a junk sender", "after a junk sender" })
            Assert.Contains("\nX-Spam: Yes\n", Mail(junk));
        foreach (var clean in new[] { "clean transaction", "reported sender" })
            Assert.DoesNotContain("X-Spam", Mail(clean));

        string reports = Path.Combine(smtpd.Maildirs, "reports.log");
        var lines = await FilterPeers.WaitForLineAsync(reports, "|filter-report|", Wait);
        Assert.Contains(lines, l => l.EndsWith("|filter-report|" + l.Split('|')[5] + "|proc|py|sender noted", StringComparison.Ordinal));
        lines = await FilterPeers.WaitForLineAsync(reports, "|mail-from|disconnect|421 4.7.0 Bye now", Wait);
        Assert.Contains(lines, l => l.EndsWith("|ehlo|disconnect|421 4.7.0 Go away", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("|mail-from|junk", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TxRollbackAndTimeoutAreReported()
    {
        await using var dns = Dns();
        await using var smtpd = Start(dns);
        smtpd.Environment["SMTPD_SESSION_TIMEOUT"] = "2";
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.StartsWith("250", await c.CommandAsync("RSET"));
            // Then the client says nothing: the session times out.
            var started = DateTime.UtcNow;
            Assert.StartsWith("421", await c.ReadReplyAsync());
            Assert.Null(await c.ReadReplyAsync());
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        }
        var lines = await FilterPeers.WaitForLineAsync(Path.Combine(smtpd.Maildirs, "reports.log"), "|link-disconnect|", Wait);
        var events = lines.Select(l => l.Split('|')).Where(f => f[4] is not ("protocol-client" or "protocol-server" or "filter-response"))
            .Select(f => string.Join("|", f[4..5].Concat(f[6..]))).ToList();
        string msgid = Regex.Match(string.Join("\n", events), @"tx-begin\|([0-9a-f]{8})").Groups[1].Value;
        Assert.NotEqual("", msgid);
        Assert.Equal([$"tx-begin|{msgid}", $"tx-mail|{msgid}|ok|alice@example.org", $"tx-rcpt|{msgid}|ok|{Me}@localhost",
                      $"tx-rollback|{msgid}", $"tx-reset|{msgid}", "timeout", "link-disconnect"], events.SkipWhile(e => !e.StartsWith("tx-begin")));
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
    }
}
