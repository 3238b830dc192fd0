using System.Text;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.EndToEnd;

// An open-relay probe from an address that is not ours (127.0.0.2: loopback, but not an
// interface address, so not "from local"), with the usual tricks. Nothing may be accepted for
// an outside domain unless the client has authenticated.
public sealed class OpenRelayTests
{
    const string Config = """
        pki tlscert cert "{dir}/mx.crt"
        pki tlscert key "{dir}/mx.key"
        table creds file:{dir}/creds
        listen on 127.0.0.1 port {port} tls pki tlscert auth-optional <creds>
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "out" relay
        match from any for domain "example.org" action "local"
        match from local for any action "out"
        match auth from any for any action "out"
        """;

    static readonly string[] Probes =
    [
        "<victim@outside.example>",
        "<VICTIM@OUTSIDE.EXAMPLE>",
        "<victim@outside.example.>",
        "<victim%outside.example@example.org>",
        "<victim!outside.example@example.org>",
        "<@example.org:victim@outside.example>",
        "<@example.org,@mx.example.org:victim@outside.example>",
        "<\"victim@outside.example\"@example.org>",
        "<victim@outside.example@example.org>",
        "<victim@[192.0.2.1]>",
        "<victim@example.org.outside.example>",
        $"<{TestUsers.Recipient}@localhost>",
        "<postmaster@outside.example>",
        "victim@outside.example",
    ];

    [Fact]
    public async Task Unauthenticated_strangers_relay_nothing_authenticated_users_may()
    {
        await using var smtpd = new SmtpdInstance();
        TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"));
        smtpd.WriteConfig(Config);
        await smtpd.StartAsync();

        // A few probes per session: a client that collects ten errors is disconnected.
        foreach (var batch in Probes.Chunk(5))
        {
            await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port, from: "127.0.0.2");
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO stranger.example");
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<spammer@stranger.example>"));
            foreach (string rcpt in batch)
            {
                string reply = await d.CommandAsync($"RCPT TO:{rcpt}");
                Assert.True(reply.StartsWith('5'), $"RCPT TO:{rcpt} got {reply}");
            }
            Assert.StartsWith("503", await d.CommandAsync("DATA"));
        }

        // The same stranger, authenticated, may relay.
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port, from: "127.0.0.2"))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO stranger.example");
            await d.CommandAsync("STARTTLS");
            await d.StartTlsAsync();
            await d.CommandAsync("EHLO stranger.example");
            Assert.StartsWith("235", await d.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0wonderland"))));
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<friend@outside.example>"));
        }

        // Nothing was queued by the probe: the queue holds no message at all.
        string queue = Path.Combine(smtpd.Spool, "queue");
        Assert.Empty(Directory.Exists(queue) ? Directory.GetFiles(queue, "*", SearchOption.AllDirectories) : []);
    }

    [Fact]
    public async Task Seed_authenticating_relay_example_relays_for_authenticated_strangers_only()
    {
        // Seed 004 "Authenticating relay", with a port of our own and a credentials table.
        await using var smtpd = new SmtpdInstance();
        TestCertificates.Write(smtpd.Dir, "my.cert", "localhost");
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"));
        smtpd.Environment["SMTPD_CERTDIR"] = smtpd.Dir;
        smtpd.WriteConfig("""
            table creds file:{dir}/creds
            listen on 127.0.0.1 port {port} tls \
                             certificate my.cert auth <creds>

            accept from any for domain "opensmtpd.org" \
                             deliver to maildir

            accept for any relay
            """);
        await smtpd.StartAsync();

        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port, from: "127.0.0.2");
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO stranger.example");
        Assert.StartsWith("530 5.7.0", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        await d.CommandAsync("STARTTLS");
        await d.StartTlsAsync();
        await d.CommandAsync("EHLO stranger.example");
        Assert.StartsWith("530 5.7.0", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("235", await d.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0wonderland"))));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<friend@outside.example>"));
    }
}
