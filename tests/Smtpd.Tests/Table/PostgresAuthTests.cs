using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.Table;

// Path of the mail: MailKit → STARTTLS → AUTH PLAIN (hash looked up in a private PostgreSQL with
// query_credentials) → smtpd → alias from PostgreSQL (query_alias) → maildir of the test user.
public sealed class PostgresAuthTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task Credentials_and_aliases_from_postgres_let_a_user_log_in_and_send()
    {
        Skip.IfNot(PostgresServer.Available, "PostgreSQL server binaries are not installed (or not root)");
        await using var pg = new PostgresServer();
        await pg.InitAsync();
        string hash = await CredentialsTable.EncryptAsync("wonderland");
        await using (var c = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={pg.Port};Username=postgres;Database=postgres"))
        {
            c.Open();
            using var cmd = new Npgsql.NpgsqlCommand(
                "CREATE TABLE credentials (username text, password text); INSERT INTO credentials VALUES ('alice', @hash);" +
                "CREATE TABLE aliases (alias text, target text); INSERT INTO aliases VALUES ('sales', @target);", c);
            cmd.Parameters.AddWithValue("hash", hash);
            cmd.Parameters.AddWithValue("target", TestUsers.Recipient);
            cmd.ExecuteNonQuery();
        }
        await using var smtpd = new SmtpdInstance();
        TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        File.WriteAllText(Path.Combine(smtpd.Dir, "postgres.conf"), $"""
            conninfo {pg.ConnInfo}
            query_credentials SELECT username, password FROM credentials WHERE username=$1;
            query_alias SELECT target FROM aliases WHERE alias=$1;
            """);
        smtpd.WriteConfig("""
            pki tlscert cert "{dir}/mx.crt"
            pki tlscert key "{dir}/mx.key"
            table pg postgres:{dir}/postgres.conf
            listen on 127.0.0.1 port {port} tls pki tlscert auth <pg>
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <pg>
            match from any for local action "local"
            """);
        await smtpd.StartAsync();

        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", smtpd.Port, SecureSocketOptions.StartTls);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("alice", "wrong"));
        await client.AuthenticateAsync("alice", "wonderland");
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("alice@example.org"));
        m.To.Add(MailboxAddress.Parse("sales@localhost"));
        m.Subject = "from postgres";
        m.Body = new TextPart("plain") { Text = "authenticated against postgres" };
        await client.SendAsync(m);
        await client.DisconnectAsync(true);

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        string mail = await File.ReadAllTextAsync(Assert.Single(files));
        Assert.Contains("Subject: from postgres", mail);
        Assert.Contains("with ESMTPSA", mail);
    }
}
