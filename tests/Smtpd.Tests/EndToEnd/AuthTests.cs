using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.EndToEnd;

// AUTH PLAIN and LOGIN over STARTTLS: against a credentials table made with `smtpctl encrypt`
// and against a system user created for the test; failures, refusals and the senders table.
public sealed class AuthTests
{
    const string Config = """
        pki tlscert cert "{dir}/mx.crt"
        pki tlscert key "{dir}/mx.key"
        table creds file:{dir}/creds
        table owners { alice = "alice@example.org, @alice.example" }
        listen on 127.0.0.1 port {port} tls pki tlscert auth <creds> senders <owners>
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from any for local action "local"
        """;

    static async Task<SmtpdInstance> StartAsync(string config = Config)
    {
        var smtpd = new SmtpdInstance();
        TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"), ("bob", "builder"));
        smtpd.WriteConfig(config);
        await smtpd.StartAsync();
        return smtpd;
    }

    static async Task<SmtpDialogue> SecureSessionAsync(int port)
    {
        var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("220", await d.CommandAsync("STARTTLS"));
        await d.StartTlsAsync();
        Assert.Contains("AUTH PLAIN LOGIN", await d.CommandAsync("EHLO client.example"));
        return d;
    }

    static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public async Task Mailkit_authenticates_with_a_hash_from_smtpctl_encrypt_and_sends()
    {
        await using var smtpd = await StartAsync();
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", smtpd.Port, SecureSocketOptions.StartTls);
        Assert.Contains("PLAIN", client.AuthenticationMechanisms);
        await client.AuthenticateAsync("alice", "wonderland");
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("alice@example.org"));
        m.To.Add(MailboxAddress.Parse($"{TestUsers.Recipient}@localhost"));
        m.Subject = "authenticated";
        m.Body = new TextPart("plain") { Text = "sent after AUTH" };
        await client.SendAsync(m);
        await client.DisconnectAsync(true);
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, TimeSpan.FromSeconds(30));
        string mail = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("with ESMTPSA", mail);
        Assert.DoesNotContain("user=alice", mail); // only with received-auth
    }

    [Fact]
    public async Task Plain_and_login_succeed_and_a_wrong_password_gets_535()
    {
        await using var smtpd = await StartAsync();
        await using (var d = await SecureSessionAsync(smtpd.Port))
        {
            Assert.StartsWith("535 5.7.8", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wrong")));
            Assert.StartsWith("235 2.0.0", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
            Assert.StartsWith("503 5.5.1", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
        }
        await using (var d = await SecureSessionAsync(smtpd.Port))
        {
            Assert.Equal("334 VXNlcm5hbWU6", await d.CommandAsync("AUTH LOGIN"));
            Assert.Equal("334 UGFzc3dvcmQ6", await d.CommandAsync(B64("bob")));
            Assert.StartsWith("235 2.0.0", await d.CommandAsync(B64("builder")));
        }
        await using (var d = await SecureSessionAsync(smtpd.Port))
        {
            Assert.Equal("334 ", await d.CommandAsync("AUTH PLAIN"));
            Assert.StartsWith("535 5.7.8", await d.CommandAsync(B64("\0bob\0wonderland"))); // alice's password
            Assert.Equal("334 UGFzc3dvcmQ6", await d.CommandAsync("AUTH LOGIN " + B64("nobody")));
            Assert.StartsWith("535 5.7.8", await d.CommandAsync(B64("x")));
            Assert.StartsWith("504 5.5.4", await d.CommandAsync("AUTH CRAM-MD5"));
            Assert.Equal("334 ", await d.CommandAsync("AUTH PLAIN"));
            Assert.StartsWith("501 5.0.0", await d.CommandAsync("*"));
        }
        await smtpd.WaitForLogAsync("smtp authentication user=alice result=permfail", TimeSpan.FromSeconds(10));
        await smtpd.WaitForLogAsync("smtp authentication user=bob result=ok", TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("wonderland", smtpd.Log);
    }

    [Fact]
    public async Task Auth_is_refused_on_a_plain_connection_and_mail_needs_it()
    {
        await using var smtpd = await StartAsync();
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("538 5.7.11", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
        Assert.StartsWith("530 5.7.0", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.DoesNotContain("result=ok", smtpd.Log);
    }

    [Fact]
    public async Task Three_failures_disconnect_after_growing_delays()
    {
        await using var smtpd = await StartAsync();
        await using var d = await SecureSessionAsync(smtpd.Port);
        var delays = new List<TimeSpan>();
        for (int i = 0; i < 3; i++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string reply = await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0guess" + i));
            delays.Add(clock.Elapsed);
            Assert.StartsWith("535 5.7.8", reply);
        }
        Assert.StartsWith("421 4.7.0", await d.ReadReplyAsync());
        Assert.Null(await d.ReadReplyAsync());
        Assert.True(delays[0] >= TimeSpan.FromMilliseconds(450), $"first delay {delays[0]}");
        Assert.True(delays[2] >= TimeSpan.FromMilliseconds(1900), $"third delay {delays[2]}");
    }

    [Fact]
    public async Task Senders_table_limits_the_mail_from_of_an_authenticated_user()
    {
        await using var smtpd = await StartAsync();
        await using var d = await SecureSessionAsync(smtpd.Port);
        Assert.StartsWith("235", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
        Assert.StartsWith("553 5.7.1", await d.CommandAsync("MAIL FROM:<bob@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<Alice@Example.org>"));
        Assert.StartsWith("250", await d.CommandAsync("RSET"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<anything@alice.example>"));
    }

    // client --STARTTLS+AUTH alice--> smtpd (senders <owners> [masquerade], [a data-line filter]) --> maildir of the test user
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task Masquerade_rewrites_the_from_header_to_the_mail_from_and_nothing_else(bool masquerade, bool filtered)
    {
        string config = masquerade ? Config.Replace("senders <owners>", "senders <owners> masquerade") : Config;
        // With a data-line filter the rewrite happens before it, so that the filter (a DKIM signer) sees the final From:.
        if (filtered)
            config = $"filter \"py\" proc-exec \"python3 {Smtpd.Tests.Filter.FilterPeers.TestFilter} {{dir}}/maildirs/reports.log\"\n"
                + config.Replace("senders <owners> masquerade", "senders <owners> masquerade filter \"py\"");
        await using var smtpd = await StartAsync(config);
        await using (var d = await SecureSessionAsync(smtpd.Port))
        {
            Assert.StartsWith("235", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<team@alice.example>"));
            Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@localhost>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            await d.SendAsync("From: \"The Boss\" <boss@example.com>\r\nTo: someone@localhost\r\nSubject: masked\r\n\r\n"
                + "From: boss@example.com stays in the body\r\n.\r\n");
            Assert.StartsWith("250", await d.ReadReplyAsync());
        }
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, TimeSpan.FromSeconds(30));
        string mail = await File.ReadAllTextAsync(files[0]);
        // Delivered files have LF line ends.
        Assert.Contains(masquerade ? "\nFrom: \"The Boss\" <team@alice.example>\n" : "\nFrom: \"The Boss\" <boss@example.com>\n", mail);
        Assert.Contains("\nTo: someone@localhost\nSubject: masked\n", mail);
        Assert.Contains("\n\nFrom: boss@example.com stays in the body\n", mail);
        Assert.Equal(masquerade ? 0 : 1, mail.Split("boss@example.com>").Length - 1);
        if (filtered) Assert.Contains("X-Test-Filter: seen\n", mail);
    }

    [SkippableFact]
    public async Task A_system_user_authenticates_with_the_password_from_shadow()
    {
        Skip.IfNot(Environment.UserName == "root", "creating a system user needs root");
        string user = "smtpdauth" + Random.Shared.Next(100000, 999999);
        var (code, output) = await ExternalTool.RunAsync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", user]);
        Assert.True(code == 0, output);
        try
        {
            (code, output) = await ExternalTool.RunAsync("chpasswd", [], $"{user}:S3cret-pass\n");
            Assert.True(code == 0, output);
            await using var smtpd = await StartAsync(Config.Replace("auth <creds> senders <owners>", "auth"));
            await using var d = await SecureSessionAsync(smtpd.Port);
            Assert.StartsWith("535 5.7.8", await d.CommandAsync("AUTH PLAIN " + B64($"\0{user}\0wrong")));
            Assert.Equal("334 VXNlcm5hbWU6", await d.CommandAsync("AUTH LOGIN"));
            await d.CommandAsync(B64(user));
            Assert.StartsWith("235 2.0.0", await d.CommandAsync(B64("S3cret-pass")));
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<someone@example.org>"));
        }
        finally
        {
            await ExternalTool.RunAsync("userdel", [user]);
        }
    }
}
