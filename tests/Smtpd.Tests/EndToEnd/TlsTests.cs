using System.Diagnostics;
using System.Net.Sockets;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.EndToEnd;

// STARTTLS and smtps against a self-signed certificate, with real clients: openssl s_client,
// Python's smtplib/ssl and a raw .NET SslStream dialogue.
public sealed class TlsTests
{
    static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(30);

    const string StartTlsConfig = """
        pki tlscert cert "{dir}/mx.crt"
        pki tlscert key "{dir}/mx.key"
        table creds file:{dir}/creds
        listen on 127.0.0.1 port {port} tls pki tlscert auth-optional <creds>
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from local for local action "local"
        """;

    static async Task<SmtpdInstance> StartAsync(string config, Action<SmtpdInstance>? prepare = null)
    {
        var smtpd = new SmtpdInstance();
        TestCertificates.Write(smtpd.Dir, "mx", "mx.example.org", "localhost");
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"));
        prepare?.Invoke(smtpd);
        smtpd.WriteConfig(config);
        await smtpd.StartAsync();
        return smtpd;
    }

    [SkippableFact]
    public async Task Openssl_s_client_completes_starttls_and_sees_auth_only_after_it()
    {
        Skip.IfNot(ExternalTool.Exists("openssl"), "openssl is not installed");
        await using var smtpd = await StartAsync(StartTlsConfig);

        // Before STARTTLS: STARTTLS offered, AUTH not (no password in clear).
        await using (var plain = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await plain.ReadReplyAsync();
            string ehlo = await plain.CommandAsync("EHLO client.example");
            Assert.Contains("250-STARTTLS", ehlo);
            Assert.DoesNotContain("AUTH", ehlo);
            Assert.StartsWith("538 5.7.11", await plain.CommandAsync("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="));
        }

        var (_, output) = await ExternalTool.RunAsync("openssl",
            ["s_client", "-starttls", "smtp", "-connect", $"127.0.0.1:{smtpd.Port}", "-crlf", "-ign_eof", "-servername", "mx.example.org"],
            "EHLO client.example\nQUIT\n");
        // s_client's exit status reflects how the server closed; what it printed is what counts.
        Assert.Contains("New, TLSv1.3", output);
        Assert.Contains("250-AUTH PLAIN LOGIN", output);
        Assert.DoesNotContain("250-STARTTLS", output.Split("250-AUTH")[1]);
        Assert.Contains("221 2.0.0", output);
        Assert.Contains("CN = mx.example.org", output);
        await smtpd.WaitForLogAsync("smtp tls ciphers=TLSv1.", TimeSpan.FromSeconds(10));
    }

    [SkippableFact]
    public async Task Python_smtps_logs_in_and_the_mail_arrives_marked_esmtpsa()
    {
        Skip.IfNot(ExternalTool.Exists("python3"), "python3 is not installed");
        await using var smtpd = await StartAsync("""
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            table creds file:{dir}/creds
            listen on 127.0.0.1 port {port} smtps pki tlscert auth <creds> received-auth
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        var (code, output) = await ExternalTool.PythonAsync("""
            import smtplib, ssl, sys
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = smtplib.SMTP_SSL('127.0.0.1', int(sys.argv[1]), context=ctx, timeout=20)
            s.ehlo('client.example')
            print('features:', sorted(s.esmtp_features))
            s.login('alice', 'wonderland')
            s.sendmail('alice@example.org', [sys.argv[2] + '@localhost'], 'Subject: over smtps\r\n\r\nhello over TLS\r\n')
            s.quit()
            print('sent')
            """, smtpd.Port.ToString(), TestUsers.Recipient);
        Assert.True(code == 0, output);
        Assert.Contains("sent", output);

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, DeliveryTimeout);
        string mail = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("with ESMTPSA id", mail);
        Assert.Contains("auth=yes user=alice", mail);
        Assert.Contains("hello over TLS", mail);
        await smtpd.WaitForLogAsync("smtp authentication user=alice result=ok", TimeSpan.FromSeconds(10));
    }

    [SkippableFact]
    public async Task Starttls_discards_the_earlier_helo_and_tls_require_refuses_mail_before_it()
    {
        await using var smtpd = await StartAsync("""
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            listen on 127.0.0.1 port {port} tls-require pki tlscert
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("530 5.7.0", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("220 2.0.0", await d.CommandAsync("STARTTLS"));
        await d.StartTlsAsync("mx.example.org");
        // RFC 3207 4.2: the session starts over; the HELO from before does not count.
        Assert.StartsWith("503 5.5.1", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        string ehlo = await d.CommandAsync("EHLO client.example");
        Assert.DoesNotContain("STARTTLS", ehlo);
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("503 5.5.1", await d.CommandAsync("STARTTLS"));
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_are_refused()
    {
        await using var smtpd = await StartAsync(StartTlsConfig);
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        // The plaintext injection of RFC 3207 section 5 / CVE-2011-0411: one packet.
        await d.SendAsync("STARTTLS\r\nMAIL FROM:<attacker@example.org>\r\n");
        string reply = await d.ReadReplyAsync() ?? "";
        Assert.StartsWith("501 5.5.1", reply);
        Assert.Null(await d.ReadReplyAsync()); // and the session is closed, nothing else answered
        await smtpd.WaitForLogAsync("smtp disconnected reason=starttls-injection", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Sni_picks_the_certificate_of_the_pki_named_by_the_client()
    {
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        var one = TestCertificates.Write(smtpd.Dir, "one", "one.example.org");
        var two = TestCertificates.Write(smtpd.Dir, "two", "two.example.org");
        smtpd.WriteConfig("""
            pki one.example.org cert "{dir}/one.crt"
            pki one.example.org key "{dir}/one.key"
            pki two.example.org cert "{dir}/two.crt"
            pki two.example.org key "{dir}/two.key"
            listen on 127.0.0.1 port {port} smtps pki one.example.org pki two.example.org
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        foreach (var (name, expected) in new[] { ("two.example.org", two), ("one.example.org", one), ("other.example.org", one) })
        {
            await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
            var ssl = await d.StartTlsAsync(name);
            Assert.Equal(expected.Thumbprint, new System.Security.Cryptography.X509Certificates.X509Certificate2(ssl.RemoteCertificate!).Thumbprint);
            Assert.StartsWith("220", await d.ReadReplyAsync());
        }
    }

    [Fact]
    public async Task Tls_below_1_2_is_refused()
    {
        Skip.IfNot(ExternalTool.Exists("openssl"), "openssl is not installed");
        await using var smtpd = await StartAsync(StartTlsConfig);
        var (_, output) = await ExternalTool.RunAsync("openssl",
            ["s_client", "-starttls", "smtp", "-connect", $"127.0.0.1:{smtpd.Port}", "-tls1_1", "-crlf", "-ign_eof"], "QUIT\n");
        Assert.DoesNotContain("221 2.0.0", output);
        await smtpd.WaitForLogAsync("smtp tls-failed", TimeSpan.FromSeconds(10));
    }

    // openssl s_client --STARTTLS, one suite offered--> smtpd (ciphers: one TLS 1.3 and one TLS 1.2 suite)
    [SkippableFact]
    public async Task Only_the_configured_ciphers_complete_a_handshake()
    {
        Skip.IfNot(ExternalTool.Exists("openssl"), "openssl is not installed");
        await using var smtpd = await StartAsync(StartTlsConfig.Replace("tls pki tlscert",
            "tls pki tlscert ciphers \"TLS_AES_256_GCM_SHA384:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\""));

        async Task<string> HandshakeAsync(params string[] offer)
        {
            var (_, output) = await ExternalTool.RunAsync("openssl",
                ["s_client", "-starttls", "smtp", "-connect", $"127.0.0.1:{smtpd.Port}", "-crlf", "-ign_eof", .. offer],
                "EHLO client.example\nQUIT\n");
            return output;
        }

        // Outside the list: the handshake fails, nothing is said over TLS.
        string tls12Outside = await HandshakeAsync("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256");
        Assert.DoesNotContain("250-AUTH", tls12Outside);
        Assert.DoesNotContain("221 2.0.0", tls12Outside);
        string tls13Outside = await HandshakeAsync("-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256");
        Assert.DoesNotContain("250-AUTH", tls13Outside);
        Assert.DoesNotContain("221 2.0.0", tls13Outside);
        await smtpd.WaitForLogAsync("smtp tls-failed", TimeSpan.FromSeconds(10), count: 2);

        // Inside it: the session goes on over TLS with that suite.
        string tls12Inside = await HandshakeAsync("-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384");
        Assert.Contains("Cipher is ECDHE-ECDSA-AES256-GCM-SHA384", tls12Inside);
        Assert.Contains("250-AUTH PLAIN LOGIN", tls12Inside);
        Assert.Contains("221 2.0.0", tls12Inside);
        string tls13Inside = await HandshakeAsync("-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384");
        Assert.Contains("Cipher is TLS_AES_256_GCM_SHA384", tls13Inside);
        Assert.Contains("221 2.0.0", tls13Inside);
    }

    [SkippableFact]
    public async Task A_client_asking_to_renegotiate_is_dropped_and_others_are_served()
    {
        Skip.IfNot(ExternalTool.Exists("openssl"), "openssl is not installed");
        await using var smtpd = await StartAsync(StartTlsConfig);
        // s_client renegotiates when a line read from stdin is "R" (TLS 1.2: 1.3 has no renegotiation).
        var (_, output) = await ExternalTool.RunAsync("bash", ["-c",
            $"(printf 'EHLO client.example\\r\\n'; sleep 1; printf 'R\\n'; sleep 2; printf 'NOOP\\r\\n'; sleep 1) | " +
            $"openssl s_client -starttls smtp -connect 127.0.0.1:{smtpd.Port} -tls1_2 -crlf"], timeoutSeconds: 30);
        Assert.Contains("RENEGOTIATING", output);
        Assert.DoesNotContain("250 2.0.0 Ok", output); // the NOOP after it was never answered
        await smtpd.WaitForLogAsync("smtp disconnected reason=io-error", TimeSpan.FromSeconds(10));

        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        Assert.StartsWith("220", await d.ReadReplyAsync());
        Assert.StartsWith("250", await d.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Stalled_handshakes_do_not_delay_a_normal_client_and_are_dropped_at_the_timeout()
    {
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        smtpd.Environment["SMTPD_TLS_HANDSHAKE_TIMEOUT"] = "4";
        smtpd.WriteConfig("""
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            listen on 127.0.0.1 port {port} smtps pki tlscert
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();

        // 500 clients: half say nothing, half start a TLS record and stop.
        var stalled = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 500; i++)
            {
                var c = new TcpClient();
                await c.ConnectAsync("127.0.0.1", smtpd.Port);
                if (i % 2 == 1) await c.GetStream().WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 });
                stalled.Add(c);
            }

            var clock = Stopwatch.StartNew();
            await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
            {
                await d.StartTlsAsync();
                Assert.StartsWith("220", await d.ReadReplyAsync());
                await d.CommandAsync("EHLO client.example");
                Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
                Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@localhost>"));
                Assert.StartsWith("354", await d.CommandAsync("DATA"));
                Assert.StartsWith("250", await d.CommandAsync("Subject: among stalled clients\r\n\r\nstill served\r\n."));
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"normal client took {clock.Elapsed}");

            // Every stalled client is dropped once the handshake timeout has passed.
            await smtpd.WaitForLogAsync("reason=\"timeout\"", TimeSpan.FromSeconds(30), count: 500);
            Assert.False(smtpd.Process.HasExited);
        }
        finally
        {
            foreach (var c in stalled) c.Dispose();
        }
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, DeliveryTimeout);
    }
}
