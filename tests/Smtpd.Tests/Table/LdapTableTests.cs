using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Smtpd.Table;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.Table;

// ldap: tables (opensmtpd-extras' table-ldap format) checked through SMTP against a private
// slapd: client --SMTP--> smtpd --LDAP--> slapd (127.0.0.1, free port), mail into a maildir.
public sealed class LdapTableTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static readonly string Entries = $"""
        dn: ou=domains,{SlapdServer.Suffix}
        objectClass: organizationalUnit
        ou: domains

        dn: dc=ldap.example,ou=domains,{SlapdServer.Suffix}
        objectClass: domain
        dc: ldap.example

        dn: ou=aliases,{SlapdServer.Suffix}
        objectClass: organizationalUnit
        ou: aliases

        dn: cn=sales,ou=aliases,{SlapdServer.Suffix}
        objectClass: nisMailAlias
        cn: sales
        rfc822MailMember: {TestUsers.Recipient}
        """;

    /// <summary>Alice, with a posixAccount (uid, home) and a userPassword holding a crypt hash.</summary>
    static string Alice(string hash, string home) => $"""
        dn: ou=people,{SlapdServer.Suffix}
        objectClass: organizationalUnit
        ou: people

        dn: uid=alice,ou=people,{SlapdServer.Suffix}
        objectClass: inetOrgPerson
        objectClass: posixAccount
        uid: alice
        cn: Alice Liddell
        sn: Liddell
        mail: alice@ldap.example
        mail: queen@ldap.example
        uidNumber: 4242
        gidNumber: 4242
        homeDirectory: {home}
        userPassword: {"{CRYPT}"}{hash}
        """;

    static string Connection(SlapdServer ldap) => $"""
        # as table-ldap(5)
        url: {ldap.Url}
        username: {SlapdServer.RootDn}
        password: {SlapdServer.RootPassword}
        basedn: {SlapdServer.Suffix}

        """;

    const string DomainsAndAliases = """
        domain_filter: (&(objectClass=domain)(dc=%s))
        domain_attributes: dc
        alias_filter: (&(objectClass=nisMailAlias)(cn=%u))
        alias_attributes: rfc822MailMember
        """;

    static async Task<SlapdServer> StartSlapdAsync(params string[] ldif)
    {
        var ldap = new SlapdServer();
        try
        {
            await ldap.InitAsync();
            foreach (string entries in ldif) await ldap.AddAsync(entries);
            return ldap;
        }
        catch
        {
            await ldap.DisposeAsync();
            throw;
        }
    }

    static Task<string> RcptAsync(int port, string rcpt) =>
        SmtpDialogue.TryDeliverAsync(port, $"{TestUsers.Recipient}@localhost", rcpt, "ldap test", $"for {rcpt}");

    [SkippableFact]
    public async Task Ldap_domains_and_aliases_decide_recipients_and_an_outage_gives_451_until_slapd_is_back()
    {
        SlapdServer.SkipUnlessAvailable();
        await using var ldap = await StartSlapdAsync(Entries);
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "ldap.conf"), Connection(ldap) + DomainsAndAliases);
        smtpd.WriteConfig("""
            table ldap ldap:{dir}/ldap.conf
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <ldap>
            match from any for domain <ldap> action "local"
            """);
        await smtpd.StartAsync();

        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "Sales@LDAP.example"));
        var first = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("for Sales@LDAP.example", await File.ReadAllTextAsync(first[0]));
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, "sales@other.example"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "nobody-at-all@ldap.example"));
        // "*" is a key, not a wildcard: unescaped, (cn=*) would match the sales alias.
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "*@ldap.example"));

        // slapd goes away in the middle of a session; the client retries the same recipient.
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{TestUsers.Recipient}@localhost>"));
        await ldap.StopAsync();
        Assert.StartsWith("451 4.3.0", await d.CommandAsync("RCPT TO:<sales@ldap.example>"));
        Assert.StartsWith("451 4.3.0", await d.CommandAsync("RCPT TO:<sales@ldap.example>"));
        await ldap.StartAsync();
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<sales@ldap.example>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync("Subject: after the outage\r\n\r\nretried\r\n."));
        var both = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);
        Assert.Single(both, f => File.ReadAllText(f).Contains("Subject: after the outage"));

        // slapd restarts while smtpd is idle: the kept connection is dead, and the next lookup
        // must neither fail (451) nor search unbound (anonymous sees nothing here: 550).
        await ldap.StopAsync();
        await ldap.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "sales@ldap.example"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 3, Timeout);
    }

    [SkippableFact]
    public async Task Ldap_credentials_with_a_crypt_userPassword_authenticate_smtp_clients_and_mailaddrmap_gives_their_senders()
    {
        SlapdServer.SkipUnlessAvailable();
        string hash = await CredentialsTable.EncryptAsync("wonderland");
        await using var ldap = await StartSlapdAsync(Alice(hash, "/nonexistent"));
        await using var smtpd = new SmtpdInstance();
        TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        File.WriteAllText(Path.Combine(smtpd.Dir, "ldap.conf"), Connection(ldap) + """
            credentials_filter: (&(objectClass=posixAccount)(uid=%u))
            credentials_attributes: uid, userPassword
            mailaddrmap_filter: (&(objectClass=posixAccount)(uid=%u))
            mailaddrmap_attributes: mail
            """);
        smtpd.WriteConfig("""
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            table ldap ldap:{dir}/ldap.conf
            listen on 127.0.0.1 port {port} tls pki tlscert auth <ldap> senders <ldap>
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        await smtpd.StartAsync();

        using (var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await client.ConnectAsync("127.0.0.1", smtpd.Port, SecureSocketOptions.StartTls);
            await client.AuthenticateAsync("alice", "wonderland");
            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("alice@ldap.example"));
            m.To.Add(MailboxAddress.Parse($"{TestUsers.Recipient}@localhost"));
            m.Subject = "authenticated by ldap";
            m.Body = new TextPart("plain") { Text = "sent after AUTH" };
            await client.SendAsync(m);
            await client.DisconnectAsync(true);
        }
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        string mail = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("authenticated by ldap", mail);
        Assert.Contains("with ESMTPSA", mail);

        static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("220", await d.CommandAsync("STARTTLS"));
        await d.StartTlsAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("535 5.7.8", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0queen")));
        Assert.StartsWith("535 5.7.8", await d.CommandAsync("AUTH PLAIN " + B64("\0mallory\0wonderland")));
        await ldap.StopAsync();
        Assert.StartsWith("454 4.7.0", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
        await ldap.StartAsync();
        Assert.StartsWith("235", await d.CommandAsync("AUTH PLAIN " + B64("\0alice\0wonderland")));
        // senders <ldap>: each of alice's mail values is hers, nothing else.
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<queen@ldap.example>"));
        Assert.StartsWith("250", await d.CommandAsync("RSET"));
        Assert.StartsWith("553 5.7.1", await d.CommandAsync("MAIL FROM:<king@ldap.example>"));
    }

    [SkippableFact]
    public async Task Ldap_virtual_users_with_userinfo_land_in_their_ldap_home_with_their_uid()
    {
        SlapdServer.SkipUnlessAvailable();
        Skip.IfNot(Environment.UserName == "root", "delivering as another uid needs root");
        await using var smtpd = new SmtpdInstance();
        string vusers = Path.Combine(smtpd.Dir, "vusers");
        Directory.CreateDirectory(vusers);
        File.SetUnixFileMode(vusers, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        await using var ldap = await StartSlapdAsync(Alice("*", Path.Combine(vusers, "alice")));
        // As table-ldap(5)'s example: addresses map to a uid, the uid to uidNumber/gidNumber/home.
        File.WriteAllText(Path.Combine(smtpd.Dir, "users.conf"), Connection(ldap) + """
            alias_filter: (&(objectClass=inetOrgPerson)(mail=%u))
            alias_attributes: uid
            userinfo_filter: (&(objectClass=posixAccount)(uid=%u))
            userinfo_attributes: uidNumber, gidNumber, homeDirectory
            """);
        smtpd.WriteConfig("""
            table users ldap:{dir}/users.conf
            listen on 127.0.0.1 port {port}
            action "vusers" maildir virtual <users> userbase <users>
            match from any for domain "ldap.example" action "vusers"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "queen@ldap.example"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "king@ldap.example"));
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(vusers, "alice", "Maildir"), 1, Timeout);
        Assert.Contains("for queen@ldap.example", await File.ReadAllTextAsync(files[0]));
        Assert.Equal("4242", (await ExternalTool.RunAsync("stat", ["-c", "%u", files[0]])).Output.Trim());
    }

    [SkippableFact]
    public async Task Ldap_server_that_stops_answering_gives_451_within_a_deadline_and_mail_flows_when_it_answers_again()
    {
        SlapdServer.SkipUnlessAvailable();
        await using var ldap = await StartSlapdAsync(Entries);
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "ldap.conf"), Connection(ldap) + DomainsAndAliases);
        smtpd.WriteConfig("""
            table ldap ldap:{dir}/ldap.conf
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <ldap>
            match from any for domain <ldap> action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "sales@ldap.example"));

        // A hung server accepts the TCP connection and never answers: the kept connection's
        // search, then a new connection's bind, each give up after about 10 s (the dialogue
        // itself waits at most 15 s for a reply).
        await ldap.PauseAsync();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, "sales@ldap.example"));
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, "sales@ldap.example"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(28), $"two lookups took {watch.Elapsed}");
        await ldap.ResumeAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "sales@ldap.example"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);
    }

    [Fact]
    public async Task Ldap_server_that_cannot_be_reached_gives_451()
    {
        await using var smtpd = new SmtpdInstance();
        // A free port where nothing listens: connection refused, every time.
        int closed = SmtpdInstance.FreePort();
        File.WriteAllText(Path.Combine(smtpd.Dir, "ldap.conf"), $"""
            url: ldap://127.0.0.1:{closed}
            basedn: {SlapdServer.Suffix}
            {DomainsAndAliases}
            """);
        smtpd.WriteConfig("""
            table ldap ldap:{dir}/ldap.conf
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <ldap>
            match from any for domain <ldap> action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, "sales@ldap.example"));
        // The reason is in the log, not in the reply.
        await smtpd.WaitForLogAsync($"table ldap: ldap://127.0.0.1:{closed}/", Timeout);
    }

    [Fact]
    public async Task Ldap_table_configuration_is_checked_by_smtpd_n_with_file_and_line()
    {
        string dir = Directory.CreateTempSubdirectory("smtpd-ldapconf-").FullName;
        try
        {
            string conf = Path.Combine(dir, "smtpd.conf"), ldapConf = Path.Combine(dir, "ldap.conf");
            File.WriteAllText(conf, $"listen on 127.0.0.1 port 2525\ntable ldap ldap:{ldapConf}\naction \"local\" maildir alias <ldap>\nmatch from any for domain <ldap> action \"local\"\n");

            // No server needed to check the file: smtpd -n does not connect.
            File.WriteAllText(ldapConf, $"url ldap://127.0.0.1:1\nbasedn {SlapdServer.Suffix}\n{DomainsAndAliases}\n");
            var good = await SmtpdInstance.RunAsync("-n", "-f", conf);
            Assert.True(good.Code == 0, good.Stderr);
            Assert.Equal("configuration OK", good.Stdout.Trim());

            File.WriteAllText(ldapConf, $"url: ldap://127.0.0.1:1\nbasedn: {SlapdServer.Suffix}\nalias_filtre: (cn=%u)\n");
            var typo = await SmtpdInstance.RunAsync("-n", "-f", conf);
            Assert.Equal(1, typo.Code);
            Assert.Contains($"{conf}:2: table ldap: {ldapConf}:3: unknown key 'alias_filtre'", typo.Stderr);

            File.WriteAllText(ldapConf, $"url: ldap://127.0.0.1:1\nbasedn: {SlapdServer.Suffix}\nalias_filter: (cn=%u)\nalias_attributes: uid, mail\n");
            var attributes = await SmtpdInstance.RunAsync("-n", "-f", conf);
            Assert.Equal(1, attributes.Code);
            Assert.Contains($"{conf}:2: table ldap: {ldapConf}:4: alias_attributes needs 1 attribute", attributes.Stderr);

            File.Delete(ldapConf);
            var missing = await SmtpdInstance.RunAsync("-n", "-f", conf);
            Assert.Equal(1, missing.Code);
            Assert.Contains($"{conf}:2: table ldap: cannot read {ldapConf}", missing.Stderr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("(&(objectClass=person)(mail=%u))", "a*b@x", "(&(objectClass=person)(mail=a\\2ab@x))")]
    [InlineData("(uid=%s)", "x)(uid=*", "(uid=x\\29\\28uid=\\2a)")]
    [InlineData("(cn=%u-%h-100%%)", "back\\slash", "(cn=back\\5cslash-t-100%)")]
    public void Ldap_filter_puts_in_the_key_escaped(string filter, string key, string expected) =>
        Assert.Equal(expected, new LdapQuery(filter, ["uid"]).FilterFor(key, "t"));
}
