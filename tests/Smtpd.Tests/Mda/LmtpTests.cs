using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mda;

// LMTP delivery into a real Dovecot, over TCP and over its unix socket; a recipient Dovecot
// does not know fails alone.
public sealed class LmtpTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static async Task<string> SendAsync(int port, string subject, params string[] rcpts)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync($"MAIL FROM:<{TestUsers.Recipient}@localhost>");
        foreach (var r in rcpts) Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{r}>"));
        await d.CommandAsync("DATA");
        return await d.CommandAsync($"Subject: {subject}\r\n\r\nvia lmtp\r\n.");
    }

    static async Task WaitForSubjectAsync(DovecotLmtp dovecot, string user, string subject)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            if ((await dovecot.SubjectsAsync(user)).Contains(subject)) return;
            await Task.Delay(200);
        }
        throw new TimeoutException($"{subject} not in {user}'s mailbox: {dovecot.Log}");
    }

    [SkippableFact]
    public async Task Mail_reaches_dovecot_over_tcp_and_unix_socket_and_an_unknown_user_fails_alone()
    {
        Skip.IfNot(DovecotLmtp.Available, "dovecot-lmtpd is not installed");
        await using var dovecot = new DovecotLmtp("alice", "bob");
        await using var smtpd = new SmtpdInstance($$"""
            table vusers { "alice" = "65534:65534:/nonexistent", "bob" = "65534:65534:/nonexistent", "carol" = "65534:65534:/nonexistent" }
            listen on 127.0.0.1 port {port}
            action "tcp" lmtp "127.0.0.1:{{dovecot.Port}}" userbase <vusers>
            action "unix" lmtp "{{dovecot.Socket}}" rcpt-to userbase <vusers>
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for domain "tcp.example" action "tcp"
            match from local for domain "unix.example" action "unix"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();

        Assert.StartsWith("250", await SendAsync(smtpd.Port, "over tcp", "alice@tcp.example", "carol@tcp.example"));
        await WaitForSubjectAsync(dovecot, "alice", "over tcp");
        // carol is unknown to Dovecot: her delivery fails and root gets the report; alice's stands.
        var reports = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        string report = await File.ReadAllTextAsync(reports[0]);
        Assert.Contains("carol", report);
        Assert.Contains("550", report);

        Assert.StartsWith("250", await SendAsync(smtpd.Port, "over the socket", "bob@unix.example"));
        await WaitForSubjectAsync(dovecot, "bob", "over the socket");
        await smtpd.WaitForLogAsync("result=Ok", Timeout, count: 2);
    }

    // client --SMTP--> smtpd --LMTP (tcp)--> Dovecot --> alice's maildir: the stored message carries our
    // Return-Path: and Delivered-To: as maildir and mbox deliveries do. As OpenSMTPD 6.8, we send Dovecot
    // "Return-Path: <sender>" and "Delivered-To: alice@tcp.example" ahead of the message, and Dovecot
    // puts its own Return-Path:, Delivered-To: and Received: above them.
    [SkippableFact]
    public async Task The_delivered_message_carries_delivered_to()
    {
        Skip.IfNot(DovecotLmtp.Available, "dovecot-lmtpd is not installed");
        await using var dovecot = new DovecotLmtp("alice");
        await using var smtpd = new SmtpdInstance($$"""
            table vusers { "alice" = "65534:65534:/nonexistent" }
            listen on 127.0.0.1 port {port}
            action "tcp" lmtp "127.0.0.1:{{dovecot.Port}}" userbase <vusers>
            match from local for domain "tcp.example" action "tcp"
            """);
        await smtpd.StartAsync();

        Assert.StartsWith("250", await SendAsync(smtpd.Port, "delivered to", "alice@tcp.example"));
        await WaitForSubjectAsync(dovecot, "alice", "delivered to");
        string file = Directory.GetFiles(Path.Combine(dovecot.MailDir("alice"), "Maildir", "new")).Single();
        string[] lines = (await File.ReadAllTextAsync(file)).Split('\n');
        // Dovecot's own header block comes first; ours is just above our Received:.
        int ours = Array.IndexOf(lines, "Delivered-To: alice@tcp.example");
        Assert.True(ours >= 0, string.Join("\n", lines));
        Assert.StartsWith("Received: from client.example", lines[ours + 1]);
        Assert.Equal($"Return-Path: <{TestUsers.Recipient}@localhost>", lines[ours - 1]);
    }
}
