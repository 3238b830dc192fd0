using System.Net;
using System.Net.Sockets;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.Mta;

// Relaying through a real DNS server (dnsmasq) to real receiving servers (second smtpd
// instances) on 127.0.0.x. MX hosts are reached on one free port (SMTPD_MTA_PORT) instead of 25.
public sealed class RelayTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    const string Relayer = """
        listen on 127.0.0.1 port {port}
        action "out" relay
        match from local for any action "out"
        """;

    static Task<SmtpdInstance> PeerAsync(string address, int port) => ReceivingPeer.StartAsync(address, port);

    /// <summary>A started smtpd relaying local mail to <paramref name="host"/> (a relay URL), with the action's further options.</summary>
    static async Task<SmtpdInstance> RelayingToAsync(string host, string options = "")
    {
        var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "out" relay host {{host}} {{options}}
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        return smtpd;
    }

    static async Task<SmtpdInstance> RelayerAsync(Dnsmasq dns, int mxPort, string config = Relayer)
    {
        var smtpd = new SmtpdInstance();
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        smtpd.Environment["SMTPD_MTA_PORT"] = mxPort.ToString();
        smtpd.Environment["SMTPD_MTA_TIMEOUT"] = "5";
        smtpd.WriteConfig(config);
        await smtpd.StartAsync();
        return smtpd;
    }

    static async Task SendAsync(int port, string to, string subject, string from = "alice@example.org")
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{from}>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{to}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\n\r\n..leading dot\r\nbody of {subject}\r\n."));
        await d.CommandAsync("QUIT");
    }

    [SkippableFact]
    public async Task An_mx_with_only_an_ipv6_address_is_reached_over_ipv6()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["six.example"], ["mx-host=six.example,mx6.six.example,10", "host-record=mx6.six.example,::1"]);
        await using var mx = await PeerAsync("::1", mxPort);
        await using var smtpd = await RelayerAsync(dns, mxPort);

        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@six.example", "over ipv6");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(mx.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("body of over ipv6", await File.ReadAllTextAsync(Assert.Single(files)));
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("relay=\"mx6.six.example [::1]\"", smtpd.Log);
    }

    [SkippableTheory]
    [InlineData("banner")]
    [InlineData("hello")]
    public async Task An_mx_refusing_the_session_with_5xx_is_skipped_and_the_next_mx_gets_the_mail(string refused)
    {
        // alice -> us -> MX 10 (in-test peer: 554 to the banner, or to EHLO and HELO) -> MX 20 (smtpd).
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["refusing.example"], [
            "mx-host=refusing.example,mx1.refusing.example,10", "mx-host=refusing.example,mx2.refusing.example,20",
            "host-record=mx1.refusing.example,127.0.0.15", "host-record=mx2.refusing.example,127.0.0.16"]);
        await using var mx1 = new ScriptedPeer("127.0.0.15", mxPort)
        {
            Banner = refused == "banner" ? "554 5.7.1 No SMTP service here" : "220 mx1.refusing.example ESMTP",
            RefuseHello = refused == "hello" ? "554 5.7.1 Go away" : null,
        }.Start();
        await using var mx2 = await PeerAsync("127.0.0.16", mxPort);
        await using var smtpd = await RelayerAsync(dns, mxPort);

        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@refusing.example", "past a refusing mx");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(mx2.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("body of past a refusing mx", await File.ReadAllTextAsync(Assert.Single(files)));
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Equal(1, mx1.Connections); // MX 10 was tried first
        Assert.Contains(refused == "banner" ? "BANNER rejected: 554" : "HELO rejected: 554", smtpd.Log);
        // Not the mail's fault: no permanent failure, so no bounce queued for alice.
        Assert.DoesNotContain("result=\"PermFail\"", smtpd.Log);
        await Task.Delay(500);
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("220 2.0.0 Ready to start TLS", 2)] // the handshake then fails: a new session, in plain text
    [InlineData("454 4.7.0 TLS not available", 1)]   // refused: the same session goes on in plain text
    public async Task A_failed_opportunistic_starttls_falls_back_to_plain_text(string startTlsReply, int connections)
    {
        // alice -> us -> in-test peer offering STARTTLS that does not work.
        await using var peer = new ScriptedPeer { Extensions = ["PIPELINING", "STARTTLS"], StartTlsReply = startTlsReply }.Start();
        await using var smtpd = await RelayingToAsync($"smtp://127.0.0.1:{peer.Port}");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "plain after all");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("body of plain after all", Assert.Single(peer.Messages));
        Assert.Equal(connections, peer.Connections);
        Assert.Equal(1, peer.Count("STARTTLS")); // the plain session does not try again
        if (connections == 2) Assert.Contains("opportunistic TLS failed, downgrading to plain", smtpd.Log);
    }

    [Theory]
    [InlineData("220 2.0.0 Ready to start TLS", "action \"out\" relay host smtp://127.0.0.1:{0} tls no-verify")]
    [InlineData("454 4.7.0 TLS not available", "action \"out\" relay host smtp+tls://127.0.0.1:{0}")]
    [InlineData(null, "action \"out\" relay host smtp://127.0.0.1:{0} tls")] // STARTTLS not even offered
    public async Task With_tls_required_a_failed_starttls_sends_nothing_and_keeps_the_mail(string? startTlsReply, string action)
    {
        await using var peer = new ScriptedPeer
        {
            Extensions = startTlsReply is null ? ["PIPELINING"] : ["PIPELINING", "STARTTLS"],
            StartTlsReply = startTlsReply ?? "502 5.5.1 Unknown command",
        }.Start();
        await using var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            {{string.Format(action, peer.Port)}}
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "secret");
        await smtpd.WaitForLogAsync("penalized", Timeout);
        Assert.Empty(peer.Messages);
        Assert.Equal(0, peer.Count("MAIL"));
        Assert.DoesNotContain("downgrading to plain", smtpd.Log);
        if (startTlsReply is null) { Assert.Contains("TLS required but not offered", smtpd.Log); Assert.Equal(0, peer.Count("STARTTLS")); }
        Assert.DoesNotContain("result=\"PermFail\"", smtpd.Log);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData(true, "Grüße aus Köln", " BODY=8BITMIME")]
    [InlineData(true, "plain ascii", "")]
    [InlineData(false, "Grüße aus Köln", "")] // sent as it is, as OpenSMTPD does
    public async Task Eight_bit_mail_is_declared_with_body_8bitmime_to_a_server_offering_it(bool offers8BitMime, string text, string body)
    {
        // alice -> us (BODY=8BITMIME) -> in-test peer recording the MAIL command.
        await using var peer = new ScriptedPeer { Extensions = offers8BitMime ? ["PIPELINING", "8BITMIME", "SIZE 1000000"] : ["PIPELINING", "SIZE 1000000"] }.Start();
        await using var smtpd = await RelayingToAsync($"smtp://127.0.0.1:{peer.Port}");
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org> BODY=8BITMIME"));
            Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@far.example>"));
            await d.CommandAsync("DATA");
            Assert.StartsWith("250", await d.CommandAsync($"Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n."));
        }
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        string mail = Assert.Single(peer.Commands, c => c.StartsWith("MAIL FROM:"));
        Assert.Matches($@"^MAIL FROM:<alice@example.org> SIZE=\d+{body}$", mail);
        // The bytes arrive unchanged (the peer reads Latin-1: one char per byte).
        Assert.Contains(System.Text.Encoding.Latin1.GetString(System.Text.Encoding.UTF8.GetBytes(text)), Assert.Single(peer.Messages));
    }

    [SkippableFact]
    public async Task A_domain_with_only_an_address_record_gets_its_mail_there()
    {
        // alice -> us -> implicit.example's own A record (no MX: RFC 5321 5.1) -> smtpd.
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["implicit.example"], ["host-record=implicit.example,127.0.0.17"]);
        await using var mx = await PeerAsync("127.0.0.17", mxPort);
        await using var smtpd = await RelayerAsync(dns, mxPort);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@implicit.example", "implicit mx");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(mx.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("body of implicit mx", await File.ReadAllTextAsync(Assert.Single(files)));
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("relay=\"implicit.example [127.0.0.17]\"", smtpd.Log);
    }

    [Fact]
    public async Task Starttls_is_used_when_the_peer_offers_it()
    {
        // alice -> us -> STARTTLS -> smtpd with a self-signed certificate (opportunistic: not verified).
        var peer = new SmtpdInstance();
        await using var _ = peer;
        TestCertificates.Write(peer.Dir, "tls", "mx.tls.example");
        peer.WriteConfig("""
            pki mx.tls.example cert "{dir}/tls.crt"
            pki mx.tls.example key "{dir}/tls.key"
            listen on 127.0.0.18 port {port} tls pki mx.tls.example
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for any action "local"
            """);
        await peer.StartAsync();
        await using var smtpd = await RelayingToAsync($"smtp://127.0.0.18:{peer.Port}");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "over starttls");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("with ESMTPS", await File.ReadAllTextAsync(files[0]));
        await peer.WaitForLogAsync("smtp tls ciphers=", Timeout);
        await smtpd.WaitForLogAsync("mta tls ciphers=", Timeout);
        Assert.DoesNotContain("downgrading to plain", smtpd.Log);
    }

    [Fact]
    public async Task Smarthost_offering_only_auth_login_gets_it()
    {
        // alice -> us -> smtps, AUTH LOGIN -> in-test smarthost that knows no other mechanism
        // (its certificate is self-signed: the action says tls no-verify).
        await using var host = new ScriptedPeer { Smtps = true, Extensions = ["PIPELINING", "AUTH LOGIN"], Login = "alice:wonderland" }.Start();
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        File.WriteAllText(Path.Combine(smtpd.Dir, "secrets"), "label   alice:wonderland\n");
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            table secrets file:{dir}/secrets
            action "out" relay host smtps+auth://label@127.0.0.1:{{host.Port}} auth <secrets> tls no-verify
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "logged in");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("body of logged in", Assert.Single(host.Messages));
        Assert.Contains("(login alice:wonderland)", host.Commands);
        Assert.Equal(0, host.Count("AUTH PLAIN"));
        Assert.True(host.TlsSessions >= 1);
    }

    [Fact]
    public async Task A_route_that_keeps_failing_is_penalized_longer_each_time()
    {
        // alice -> us -> nobody listening: the route's penalty doubles (2 s, 4 s, 8 s...), and the
        // envelope comes back from the scheduler when each ends.
        int closed = SmtpdInstance.FreePort();
        await using var smtpd = await RelayingToAsync($"smtp://127.0.0.1:{closed}");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "nowhere");

        async Task<(int Penalty, int Seconds)> RouteAsync()
        {
            // The routes (action, domain) that wait are in show routes, with their penalty.
            var (code, output) = await Control.Smtpctl.RunAsync(smtpd, "show", "routes");
            Assert.True(code == 0, output);
            string line = output.Split('\n').Single(l => l.Contains(" <-> far.example (action out) "));
            var m = System.Text.RegularExpressions.Regex.Match(line, @"-D-- nconn=0 nerror=\d+ penalty=(\d+) timeout=(\d+)s$");
            Assert.True(m.Success, line);
            return (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value));
        }
        await smtpd.WaitForLogAsync("penalized", Timeout, count: 2);
        var second = await RouteAsync();
        await smtpd.WaitForLogAsync("penalized", Timeout, count: 3);
        var asked = System.Diagnostics.Stopwatch.StartNew();
        var third = await RouteAsync();
        Assert.Equal(2, second.Penalty);
        Assert.Equal(3, third.Penalty);
        Assert.InRange(second.Seconds, 0, 4);
        // 8 s, less the time smtpctl took to answer (a loaded machine may need seconds).
        Assert.InRange(third.Seconds + (int)Math.Ceiling(asked.Elapsed.TotalSeconds), 7, 9);
        // Each failed try went back to the scheduler: pending, counted, with its error, never sent nor bounced.
        Assert.DoesNotContain("result=\"Ok\"", smtpd.Log);
        Assert.DoesNotContain("result=\"PermFail\"", smtpd.Log);
        var line = Assert.Single(await Control.Smtpctl.QueueAsync(smtpd));
        Assert.Equal("pending", line[11]);
        Assert.True(int.Parse(line[10]) >= 3, string.Join('|', line));
        Assert.Contains("Connection refused", line[13]);
    }

    [Fact]
    public async Task A_message_with_more_than_100_received_headers_is_refused_not_relayed()
    {
        await using var smtpd = new SmtpdInstance(Relayer);
        await smtpd.StartAsync();
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<someone@far.example>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        string hops = string.Concat(Enumerable.Range(0, 101).Select(i => $"Received: from hop{i}.example by hop{i + 1}.example; Tue, 1 Dec 2026 10:00:00 +0000\r\n"));
        // Seed 000: a message that went round too many times is a loop; the sender's side bounces it.
        Assert.StartsWith("554 5.4.6", await d.CommandAsync($"{hops}Subject: loop\r\n\r\nround and round\r\n."));
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
    }

    [SkippableFact]
    public async Task Mail_goes_to_the_backup_mx_when_the_preferred_one_is_down()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["example.net"], [
            "mx-host=example.net,mx1.example.net,10", "mx-host=example.net,mx2.example.net,20",
            "host-record=mx1.example.net,127.0.0.3", "host-record=mx2.example.net,127.0.0.4"]);
        await using var mx2 = await PeerAsync("127.0.0.4", mxPort);
        await using var smtpd = await RelayerAsync(dns, mxPort);

        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@example.net", "to the backup");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(mx2.Maildirs, TestUsers.Recipient), 1, Timeout);
        string mail = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("body of to the backup", mail);
        Assert.Contains("\n.leading dot", mail.Replace("\r\n", "\n")); // dot-stuffing undone at the far end
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("host=mx1.example.net", smtpd.Log);
        Assert.Contains("relay=\"mx2.example.net [127.0.0.4]\"", smtpd.Log);
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
    }

    [SkippableFact]
    public async Task Two_domains_sharing_an_mx_share_one_connection()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["one.example", "two.example"], [
            "mx-host=one.example,mx.shared.example,10", "mx-host=two.example,mx.shared.example,10",
            "host-record=mx.shared.example,127.0.0.5"]);
        await using var mx = await PeerAsync("127.0.0.5", mxPort);
        await using var smtpd = await RelayerAsync(dns, mxPort);

        // Ten messages in one client session: they reach the MTA together.
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            for (int i = 0; i < 10; i++)
            {
                await d.CommandAsync("MAIL FROM:<alice@example.org>");
                await d.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@{(i % 2 == 0 ? "one" : "two")}.example>");
                await d.CommandAsync("DATA");
                Assert.StartsWith("250", await d.CommandAsync($"Subject: message {i}\r\n\r\nbody {i}\r\n."));
            }
        }
        await Mailboxes.WaitForMaildirAsync(Path.Combine(mx.Maildirs, TestUsers.Recipient), 10, Timeout);
        await mx.WaitForLogAsync("smtp message msgid=", Timeout, count: 10);
        Assert.Equal(1, SmtpdInstance.Occurrences(mx.Log, "smtp connected"));
    }

    [SkippableFact]
    public async Task Equal_preference_mxs_share_the_load()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["spread.example"], [
            "mx-host=spread.example,a.spread.example,10", "mx-host=spread.example,b.spread.example,10",
            "host-record=a.spread.example,127.0.0.6", "host-record=b.spread.example,127.0.0.7"]);
        await using var a = await PeerAsync("127.0.0.6", mxPort);
        await using var b = await PeerAsync("127.0.0.7", mxPort);
        await using var smtpd = await RelayerAsync(dns, mxPort);

        // Separate client sessions, a little apart, so each message is routed on its own.
        for (int i = 0; i < 12; i++)
        {
            await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@spread.example", $"spread {i}");
            await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout, count: i + 1);
        }
        // Each peer stores what it accepted a moment after its 250.
        int At(SmtpdInstance peer) => Directory.Exists(Path.Combine(peer.Maildirs, TestUsers.Recipient, "new"))
            ? Directory.GetFiles(Path.Combine(peer.Maildirs, TestUsers.Recipient, "new")).Length : 0;
        for (var deadline = DateTime.UtcNow + Timeout; At(a) + At(b) < 12 && DateTime.UtcNow < deadline;) await Task.Delay(50);
        int atA = At(a), atB = At(b);
        Assert.Equal(12, atA + atB);
        Assert.True(atA > 0 && atB > 0, $"a={atA} b={atB}");
    }

    [SkippableFact]
    public async Task Smarthost_over_smtps_with_auth_from_a_secrets_table()
    {
        var host = new SmtpdInstance();
        await using var __ = host;
        TestCertificates.Write(host.Dir, "tls", "smtps.my.isp");
        await CredentialsTable.WriteAsync(Path.Combine(host.Dir, "creds"), ("alice", "wonderland"));
        host.WriteConfig("""
            pki tlscert cert "{dir}/tls.crt"
            pki tlscert key "{dir}/tls.key"
            table creds file:{dir}/creds
            listen on 127.0.0.8 port {port} smtps pki tlscert auth <creds>
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match auth from any for any action "local"
            """);
        await host.StartAsync();
        int port = host.Port;

        // Seed 004 "using a smarthost", pointed at the peer: smtps.my.isp is found through a real
        // DNS server, and its certificate is checked against the system store, which here (as
        // OpenSSL reads SSL_CERT_FILE) trusts exactly that self-signed certificate.
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        await using var dns = new Dnsmasq(["my.isp"], ["host-record=smtps.my.isp,127.0.0.8"]);
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        smtpd.Environment["SSL_CERT_FILE"] = Path.Combine(host.Dir, "tls.crt");
        File.WriteAllText(Path.Combine(smtpd.Dir, "secrets"), "# label   login:password\nlabel   alice:wonderland\n");
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            table secrets file:{dir}/secrets
            accept for any relay                    \
                via smtps+auth://label@smtps.my.isp:{{port}} \
                auth <secrets>
            """);
        await smtpd.StartAsync();

        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "via smarthost");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(host.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("with ESMTPSA", await File.ReadAllTextAsync(files[0]));
        await host.WaitForLogAsync("smtp authentication user=alice result=ok", Timeout);
        await host.WaitForLogAsync("smtp tls ciphers=", Timeout);
        await smtpd.WaitForLogAsync("mta tls ciphers=", Timeout);
        Assert.Contains("mta server-cert-check result=\"success\"", smtpd.Log);
    }

    [SkippableFact]
    public async Task Null_mx_and_missing_domains_fail_permanently_dns_trouble_temporarily()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        await using var dns = new Dnsmasq(["nullmx.example", "gone.example"], ["mx-host=nullmx.example,.,0"]);
        await using var smtpd = await RelayerAsync(dns, SmtpdInstance.FreePort());
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@nullmx.example", "null mx");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@nothing.gone.example", "nxdomain");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@unserved.example", "no answer"); // dnsmasq has no upstream: REFUSED
        await smtpd.WaitForLogAsync("mta delivery", Timeout, count: 3);
        Assert.Contains($"to=<{TestUsers.Recipient}@nullmx.example>", smtpd.Log.Split('\n').Single(l => l.Contains("mta delivery") && l.Contains("nullmx")));
        Assert.Contains("result=\"PermFail\"", smtpd.Log.Split('\n').Single(l => l.Contains("mta delivery") && l.Contains("nullmx")));
        Assert.Contains("result=\"PermFail\"", smtpd.Log.Split('\n').Single(l => l.Contains("mta delivery") && l.Contains("gone.example")));
        Assert.Contains("result=\"TempFail\"", smtpd.Log.Split('\n').Single(l => l.Contains("mta delivery") && l.Contains("unserved.example")));
    }

    [Fact]
    public async Task A_silent_peer_or_one_that_drops_mid_data_loses_nothing_and_the_retry_delivers_once()
    {
        foreach (var behaviour in new[] { "silent", "drop" })
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var peer = FaultyPeerAsync(listener, behaviour);

            var smtpd = new SmtpdInstance();
            await using var _ = smtpd;
            smtpd.Environment["SMTPD_MTA_TIMEOUT"] = "3";
            smtpd.WriteConfig($$"""
                listen on 127.0.0.1 port {port}
                action "out" relay host smtp://127.0.0.1:{{port}}
                match from local for any action "out"
                """);
            await smtpd.StartAsync();
            await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", behaviour);
            // Silent: the route is penalized and the mail held; dropped mid-DATA: deferred.
            await smtpd.WaitForLogAsync(behaviour == "silent" ? "penalized" : "result=\"TempFail\"", Timeout);
            // Still in the queue, to be tried again.
            Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories));
            listener.Stop();
            await peer;

            // The faulty server is replaced by a real one on the same address and port; a forced
            // retry delivers the message once.
            await using var fixedPeer = await PeerAsync("127.0.0.1", port);
            var (code, output) = await Control.Smtpctl.RunAsync(smtpd, "schedule", "all");
            Assert.True(code == 0, output);
            var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(fixedPeer.Maildirs, TestUsers.Recipient), 1, TimeSpan.FromSeconds(60));
            Assert.Contains($"body of {behaviour}", await File.ReadAllTextAsync(files[0]));
            await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
            await Task.Delay(1000);
            Assert.Single(Directory.GetFiles(Path.Combine(fixedPeer.Maildirs, TestUsers.Recipient, "new")));
            Assert.Equal(1, SmtpdInstance.Occurrences(fixedPeer.Log, "smtp message msgid="));
            Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories));
        }
    }

    /// <summary>A peer that accepts and then never speaks, or drops the connection in the middle of DATA.</summary>
    static async Task FaultyPeerAsync(TcpListener listener, string behaviour)
    {
        try
        {
            using var client = await listener.AcceptTcpClientAsync().WaitAsync(Timeout);
            var stream = client.GetStream();
            if (behaviour == "silent") { await Task.Delay(TimeSpan.FromSeconds(6)); return; }
            var reader = new StreamReader(stream);
            async Task Say(string s) => await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(s + "\r\n"));
            await Say("220 faulty ESMTP");
            while (await reader.ReadLineAsync().WaitAsync(Timeout) is { } line)
            {
                if (line.StartsWith("EHLO")) await Say("250 faulty");
                else if (line.StartsWith("DATA")) { await Say("354 go on"); await reader.ReadLineAsync(); return; } // hang up mid-data
                else await Say("250 ok");
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or TimeoutException or ObjectDisposedException) { }
    }

    [SkippableFact]
    public async Task Relay_backup_sends_to_the_preferred_mx_and_never_to_itself()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["backup.example", "worst.example"], [
            "mx-host=backup.example,mx1.backup.example,10", "mx-host=backup.example,mx2.backup.example,20",
            "host-record=mx1.backup.example,127.0.0.9", "host-record=mx2.backup.example,127.0.0.1",
            // We are the best MX of worst.example: nobody to hand it to.
            "mx-host=worst.example,mx2.backup.example,5", "mx-host=worst.example,mx1.backup.example,50"]);
        await using var mx1 = await PeerAsync("127.0.0.9", mxPort);
        // Seed 004 "backup server", we being mx2.
        await using var smtpd = await RelayerAsync(dns, mxPort, """
            listen on 127.0.0.1 port {port}
            accept from any for domain "backup.example" relay backup mx2.backup.example
            accept from any for domain "worst.example" relay backup mx2.backup.example
            """);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@backup.example", "held for the primary");
        await Mailboxes.WaitForMaildirAsync(Path.Combine(mx1.Maildirs, TestUsers.Recipient), 1, Timeout);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@worst.example", "we are the best mx");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        Assert.Contains("no MX of worst.example is preferred to mx2.backup.example", smtpd.Log);
        Assert.Equal(2, SmtpdInstance.Occurrences(smtpd.Log, "smtp connected")); // only our two clients: no loop to ourselves
    }

    [SkippableFact]
    public async Task Seed_dkim_proxy_loop_with_tags_and_sender_rewrite()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["final.example"], ["mx-host=final.example,mx.final.example,10", "host-record=mx.final.example,127.0.0.10"]);
        await using var final = await PeerAsync("127.0.0.10", mxPort);

        // Seed 004 "Signing outgoing mail with DKIM proxy": mail goes out through the proxy on
        // 10028 and comes back on 10029 tagged DKIM, then relays. The proxy is a second smtpd
        // that sends everything back (it would sign it); ports are free ones.
        int back = SmtpdInstance.FreePort();
        var proxy = new SmtpdInstance();
        await using var _ = proxy;
        proxy.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "back" relay host smtp://127.0.0.1:{{back}}
            match from any for any action "back"
            """);
        await proxy.StartAsync();

        await using var smtpd = await RelayerAsync(dns, mxPort, $$"""
            listen on 127.0.0.1 port {port}
            listen on 127.0.0.1 port {{back}} tag DKIM
            accept tagged DKIM for any relay as "signed@example.org"
            accept for any relay via smtp://127.0.0.1:{{proxy.Port}}
            """);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@final.example", "signed by the proxy");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(final.Maildirs, TestUsers.Recipient), 1, Timeout);
        string mail = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("Return-Path: <signed@example.org>", mail); // "as" rewrote the envelope sender
        Assert.Equal(4, SmtpdInstance.Occurrences(mail, "Received: ")); // us, the proxy, us again, the final MX
        await proxy.WaitForLogAsync($"to=<{TestUsers.Recipient}@final.example>", Timeout);
    }

    [SkippableFact]
    public async Task With_every_mx_down_mail_waits_and_goes_when_one_comes_back()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["down.example"], [
            "mx-host=down.example,mx1.down.example,10", "mx-host=down.example,mx2.down.example,20",
            "host-record=mx1.down.example,127.0.0.11", "host-record=mx2.down.example,127.0.0.12"]);
        await using var smtpd = await RelayerAsync(dns, mxPort);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@down.example", "waiting");
        await smtpd.WaitForLogAsync("penalized", Timeout);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories));

        await using var mx2 = await PeerAsync("127.0.0.12", mxPort);
        await Mailboxes.WaitForMaildirAsync(Path.Combine(mx2.Maildirs, TestUsers.Recipient), 1, TimeSpan.FromSeconds(60));
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        await mx2.WaitForLogAsync("smtp message msgid=", Timeout);
        await Task.Delay(500);
        Assert.Equal(1, SmtpdInstance.Occurrences(mx2.Log, "smtp message msgid="));
    }

    [Fact]
    public async Task A_greylisting_peer_gets_everything_after_its_grey_period_without_hammering()
    {
        await using var peer = new GreylistPeer(TimeSpan.FromSeconds(3));
        await using var smtpd = await RelayingToAsync($"smtp://127.0.0.1:{peer.Port}");
        for (int i = 0; i < 3; i++)
        {
            await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            await d.CommandAsync("MAIL FROM:<alice@example.org>");
            await d.CommandAsync($"RCPT TO:<a{i}@grey.example>");
            await d.CommandAsync($"RCPT TO:<b{i}@grey.example>");
            await d.CommandAsync("DATA");
            Assert.StartsWith("250", await d.CommandAsync($"Subject: grey {i}\r\n\r\nbody\r\n."));
        }
        await smtpd.WaitForLogAsync("result=\"Ok\"", TimeSpan.FromSeconds(60), count: 6);
        Assert.Contains("mta greylisted", smtpd.Log);
        Assert.Equal(3, peer.Messages);
        // Each of the six recipients was asked for at most a few times, not hammered.
        Assert.True(peer.RcptCommands <= 6 * 3, $"{peer.RcptCommands} RCPT commands");
    }

    [Fact]
    public async Task After_too_many_deferred_recipients_in_a_row_the_rest_waits_with_the_route()
    {
        // alice -> us -> greylisting peer; one message for 30 recipients, more than the 25
        // refusals in a row (OpenSMTPD's max_failures_per_session) a session takes.
        const int recipients = 30;
        await using var peer = new GreylistPeer(TimeSpan.FromSeconds(3));
        await using var smtpd = await RelayingToAsync($"smtp://127.0.0.1:{peer.Port}");
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            await d.CommandAsync("MAIL FROM:<alice@example.org>");
            for (int i = 0; i < recipients; i++) Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<r{i}@grey.example>"));
            await d.CommandAsync("DATA");
            Assert.StartsWith("250", await d.CommandAsync("Subject: many\r\n\r\nbody\r\n."));
        }
        await smtpd.WaitForLogAsync("Too many consecutive errors", Timeout);
        // The first 25 are delivered after the grey period; the last 5, asked for only then, are
        // deferred on their own and go back to the scheduler: make it retry now.
        await smtpd.WaitForLogAsync("result=\"Ok\"", TimeSpan.FromSeconds(60), count: 25);
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); SmtpdInstance.Occurrences(smtpd.Log, "result=\"Ok\"") < recipients;)
        {
            Assert.True(DateTime.UtcNow < deadline, "not every recipient was delivered");
            await Control.Smtpctl.RunAsync(smtpd, "schedule", "all");
            await Task.Delay(1000);
        }
        Assert.Equal(2, peer.Messages);
        Assert.DoesNotContain("result=\"PermFail\"", smtpd.Log);
        // Before the grey period ended no session asked for more than 25 recipients.
        var refusedOnly = peer.Connections.Where(c => c.Accepted == 0 && c.Rcpts > 0).ToList();
        Assert.NotEmpty(refusedOnly);
        Assert.All(refusedOnly, c => Assert.True(c.Rcpts <= 25, $"{c.Rcpts} RCPTs on one connection"));
        Assert.Contains(refusedOnly, c => c.Rcpts == 25);
    }

    [SkippableFact]
    public async Task Postfix_smtp_sink_as_mx_receives_every_message_over_one_pipelined_session()
    {
        Skip.IfNot(Dnsmasq.Available && SmtpSink.Available, "dnsmasq or postfix's smtp-sink is not installed");
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["sink-a.example", "sink-b.example", "sink.example"], [
            "mx-host=sink-a.example,mx.sink.example,10", "mx-host=sink-b.example,mx.sink.example,10",
            "host-record=mx.sink.example,127.0.0.13"]);
        await using var sink = new SmtpSink("127.0.0.13", mxPort);
        await using var smtpd = await RelayerAsync(dns, mxPort);

        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            for (int i = 0; i < 6; i++)
            {
                await d.CommandAsync("MAIL FROM:<alice@example.org>");
                await d.CommandAsync($"RCPT TO:<user{i}@sink-{(i % 2 == 0 ? "a" : "b")}.example>");
                if (i == 0) await d.CommandAsync("RCPT TO:<second@sink-a.example>");
                await d.CommandAsync("DATA");
                Assert.StartsWith("250", await d.CommandAsync($"Subject: sink {i}\r\n\r\n..dot line\r\nbody {i}\r\n."));
            }
        }
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout, count: 7);
        Assert.Equal(6, sink.Messages.Length);
        string first = sink.Messages.Select(File.ReadAllText).Single(m => m.Contains("Subject: sink 0"));
        Assert.Contains("X-Rcpt-Args: <user0@sink-a.example>", first);
        Assert.Contains("X-Rcpt-Args: <second@sink-a.example>", first); // both recipients in one transaction
        Assert.Contains("\n.dot line", first.Replace("\r\n", "\n"));
        Assert.Equal(1, sink.Sessions);
    }

    [Fact]
    public async Task Relay_binds_a_source_address_from_its_table_and_says_its_helo()
    {
        await using var peer = await ReceivingPeer.StartAsync();
        await using var smtpd = new SmtpdInstance($$"""
            table sources { 127.0.0.14 }
            listen on 127.0.0.1 port {port}
            action "out" relay host smtp://127.0.0.1:{{peer.Port}} src <sources> helo relay.example
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "from a chosen source");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("from relay.example (", await File.ReadAllTextAsync(files[0]));
        await peer.WaitForLogAsync("smtp connected address=127.0.0.14", Timeout);
    }

    [Theory]
    // The seed's grammar (relay source <t> helo <t>) and the modern one (src <t> helo-src <t>):
    // the HELO name is the one the helo table gives the source address the connection left from.
    [InlineData("accept from local for any relay via smtp://127.0.0.1:{peer} source <sources> helo <names>")]
    [InlineData("action \"out\" relay host smtp://127.0.0.1:{peer} src <sources> helo-src <names>\nmatch from local for any action \"out\"")]
    public async Task The_helo_name_comes_from_the_helo_table_by_source_address(string rule)
    {
        await using var peer = await ReceivingPeer.StartAsync();
        await using var smtpd = new SmtpdInstance($$"""
            table sources { 127.0.0.15 }
            table names { 127.0.0.15 = "out15.example", 127.0.0.16 = "out16.example" }
            listen on 127.0.0.1 port {port}
            {{rule.Replace("{peer}", peer.Port.ToString())}}
            """);
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "named by source");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("from out15.example (", await File.ReadAllTextAsync(files[0]));
        await peer.WaitForLogAsync("smtp connected address=127.0.0.15", Timeout);
    }

    [Fact]
    public async Task A_message_larger_than_the_peer_allows_fails_without_being_sent()
    {
        await using var peer = await ReceivingPeer.StartAsync(globals: "max-message-size 100");
        await using var smtpd = await RelayingToAsync($"smtp://127.0.0.1:{peer.Port}");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "bigger than the peer's SIZE");
        await smtpd.WaitForLogAsync("result=\"PermFail\" stat=\"552 5.3.4 Message too large for peer", Timeout);
        await peer.WaitForLogAsync("smtp disconnected", Timeout);
        Assert.DoesNotContain("MAIL FROM", peer.Log, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("smtp message", peer.Log);
    }
}
