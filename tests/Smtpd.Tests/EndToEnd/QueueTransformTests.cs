using Smtpd.Tests.Control;

namespace Smtpd.Tests.EndToEnd;

// queue compress / queue encrypt on the real spool, and quarantine of corrupt envelopes.
public sealed class QueueTransformTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    const string Marker = "PLAINTEXT-MARKER-7f3a";

    static string Config(string queueLines) => $$"""
        {{queueLines}}
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "out" relay
        match from local for local action "local"
        match from local for any action "out"
        """;

    static async Task SendAsync(int port, string rcpt)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync($"MAIL FROM:<{Marker}@example.org>");
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {Marker}\r\n\r\nbody {Marker}\r\n."));
    }

    // The daemon may remove a file (a delivered envelope) between the listing and the read.
    static bool SpoolContains(SmtpdInstance smtpd, string text) =>
        Directory.GetFiles(smtpd.Spool, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("smtpd.lock"))
            .Any(f => ReadIfThere(f).AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(text)) >= 0);

    static byte[] ReadIfThere(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException) { return []; }
    }

    [SkippableFact]
    public async Task Compressed_queue_holds_no_plaintext_and_zcat_reads_it()
    {
        Skip.IfNot(ExternalTool.Exists("zcat"), "zcat is not installed");
        await using var smtpd = new SmtpdInstance(Config("queue compression"));
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, "someone@far.example"); // stays queued: the resolver does not answer
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains($"body {Marker}", await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(smtpd.Maildirs, TestUsers.Recipient, "new"))[0]));

        Assert.False(SpoolContains(smtpd, Marker));
        // The delivered message leaves the queue just after its mailbox file appears.
        string[] Queued() => Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories);
        for (var deadline = DateTime.UtcNow + Timeout; Queued().Length > 1 && DateTime.UtcNow < deadline;) await Task.Delay(50);
        string message = Queued().Single();
        string envelope = Directory.GetFiles(Path.GetDirectoryName(message)!).Single(f => !f.EndsWith("message"));
        Assert.Contains($"body {Marker}", (await ExternalTool.RunAsync("zcat", [message])).Output);
        Assert.Contains("rcpt: someone@far.example", (await ExternalTool.RunAsync("zcat", [envelope])).Output);
    }

    [Fact]
    public async Task Encrypted_queue_holds_no_plaintext_mail_flows_and_a_wrong_key_refuses_to_start()
    {
        var smtpd = new SmtpdInstance(Config("queue compression\nqueue encryption key \"correct horse battery staple\""));
        await using var _ = smtpd;
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, "someone@far.example");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.False(SpoolContains(smtpd, Marker));
        Assert.False(SpoolContains(smtpd, "someone@far.example"));
        string msgid = (await Smtpctl.QueueAsync(smtpd)).Single()[0][..8];
        Assert.Contains($"body {Marker}", (await Smtpctl.RunAsync(smtpd, "show", "message", msgid)).Output);
        await smtpd.StopAsync();

        smtpd.WriteConfig(Config("queue compression\nqueue encryption key \"wrong horse\""));
        var (code, _, stderr) = await SmtpdInstance.RunAsync(new Dictionary<string, string> { ["SMTPD_SPOOL"] = smtpd.Spool, ["SMTPD_SOCKET"] = smtpd.ControlSocket },
            "-d", "-f", smtpd.ConfigPath);
        Assert.Equal(1, code);
        Assert.Contains("queue encryption key does not match", stderr);
        Assert.Empty(Quarantined(smtpd));

        // The check file lost: the passphrase's salt went with it, so the sealed files cannot be
        // opened; the daemon still refuses rather than quarantine them.
        smtpd.WriteConfig(Config("queue compression\nqueue encryption key \"correct horse battery staple\""));
        string check = Path.Combine(smtpd.Spool, "queue.keycheck");
        File.Move(check, check + ".saved");
        (code, var stdout, stderr) = await SmtpdInstance.RunAsync(new Dictionary<string, string> { ["SMTPD_SPOOL"] = smtpd.Spool, ["SMTPD_SOCKET"] = smtpd.ControlSocket },
            "-d", "-f", smtpd.ConfigPath);
        Assert.Equal(1, code);
        Assert.Contains("queue.keycheck is missing and the queue holds files sealed with another key", stderr);
        Assert.Empty(Quarantined(smtpd));
        Assert.False(File.Exists(check));

        // With the check file back and the right key, the queued message is still there.
        File.Move(check + ".saved", check);
        await smtpd.StartAsync();
        Assert.Single(await Smtpctl.QueueAsync(smtpd));
    }

    [Fact]
    public async Task A_corrupt_envelope_is_quarantined_and_the_rest_delivered()
    {
        var smtpd = new SmtpdInstance(Config(""));
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mda")).Code);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        await smtpd.StopAsync();

        var envelopes = Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("message")).Order().ToArray();
        Assert.Equal(2, envelopes.Length);
        File.WriteAllText(envelopes[0], "version: 3\ngarbage without the rest\n\0\0\0");

        await smtpd.StartAsync();
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        await smtpd.WaitForLogAsync("moved to corrupt/", Timeout);
        Assert.NotEmpty(Quarantined(smtpd));
        await Task.Delay(500);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Maildirs, TestUsers.Recipient, "new")));
        Assert.False(smtpd.Process.HasExited);
    }

    [Fact]
    public async Task A_message_that_cannot_be_decrypted_is_quarantined_and_the_rest_delivered()
    {
        var smtpd = new SmtpdInstance(Config("queue encryption key \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""));
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mda")).Code);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        var messages = Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories).Order().ToArray();
        Assert.Equal(2, messages.Length);
        byte[] bytes = File.ReadAllBytes(messages[0]);
        bytes[bytes.Length / 2] ^= 0x40; // one flipped bit in the ciphertext
        File.WriteAllBytes(messages[0], bytes);

        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "mda")).Code);
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        await smtpd.WaitForLogAsync("moved to corrupt/", Timeout);
        string hex = Path.GetFileName(Path.GetDirectoryName(messages[0]))!;
        Assert.True(File.Exists(Path.Combine(smtpd.Spool, "corrupt", hex, "message")));
        await Task.Delay(500);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Maildirs, TestUsers.Recipient, "new")));
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
    }

    // client -> smtpd (queue compression, mda paused) -> message file cut short on disk -> mda
    // resumed -> the delivery reads it: a temporary failure that names the damage, the message set
    // aside in corrupt/ as an undecryptable one is, nothing of it in the mailbox; the other
    // message is delivered whole. Cut in the body, the damage shows only at the end of the
    // stream a delivery process is fed; cut at the header, already where the headers are read.
    [Theory]
    [InlineData("in the body")]
    [InlineData("in the trailer")]
    [InlineData("after the gzip header")]
    public async Task A_truncated_compressed_message_is_never_delivered_short(string cut)
    {
        var smtpd = new SmtpdInstance(Config("queue compression"));
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mda")).Code);
        await SendLongAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        await SendLongAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        var messages = Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories).Order().ToArray();
        Assert.Equal(2, messages.Length);
        byte[] bytes = File.ReadAllBytes(messages[0]);
        int keep = cut switch { "in the body" => bytes.Length / 2, "in the trailer" => bytes.Length - 3, _ => 10 };
        File.WriteAllBytes(messages[0], bytes[..keep]);

        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "mda")).Code);
        string maildir = Path.Combine(smtpd.Maildirs, TestUsers.Recipient);
        await Mailboxes.WaitForMaildirAsync(maildir, 1, Timeout);
        await smtpd.WaitForLogAsync("moved to corrupt/", Timeout);
        string hex = Path.GetFileName(Path.GetDirectoryName(messages[0]))!;
        string failed = smtpd.Log.Split('\n').Single(l => l.Contains("mda delivery") && l.Contains(hex) && l.Contains("result=TempFail"));
        Assert.Contains("compressed file is truncated", failed);
        Assert.True(File.Exists(Path.Combine(smtpd.Spool, "corrupt", hex, "message")));
        await Task.Delay(500);
        var delivered = Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
        Assert.Contains(LongBodyEnd, await File.ReadAllTextAsync(delivered));
        Assert.Empty(Directory.GetFiles(Path.Combine(maildir, "tmp"))); // no part of it left behind either
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
    }

    // client -> smtpd (queue compression, mta paused) -> message file cut in the body -> mta
    // resumed -> relayed to a receiving smtpd: the DATA is never ended with its dot, so the peer
    // keeps nothing of it; the sender logs the cause and sets the message aside; the other one
    // arrives whole.
    [Fact]
    public async Task A_truncated_compressed_message_is_never_relayed_short()
    {
        await using var peer = await Mta.ReceivingPeer.StartAsync();
        var smtpd = new SmtpdInstance($$"""
            queue compression
            listen on 127.0.0.1 port {port}
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            match from local for any action "out"
            """);
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mta")).Code);
        await SendLongAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example");
        await SendLongAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example");
        var messages = Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "message", SearchOption.AllDirectories).Order().ToArray();
        Assert.Equal(2, messages.Length);
        byte[] bytes = File.ReadAllBytes(messages[0]);
        File.WriteAllBytes(messages[0], bytes[..(bytes.Length / 2)]);

        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "mta")).Code);
        string maildir = Path.Combine(peer.Maildirs, TestUsers.Recipient);
        await Mailboxes.WaitForMaildirAsync(maildir, 1, Timeout);
        await smtpd.WaitForLogAsync("moved to corrupt/", Timeout);
        string hex = Path.GetFileName(Path.GetDirectoryName(messages[0]))!;
        string failed = smtpd.Log.Split('\n').First(l => l.Contains("mta delivery") && l.Contains(hex) && l.Contains("result=\"TempFail\""));
        Assert.Contains("compressed file is truncated", failed);
        await Task.Delay(500);
        var relayed = Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
        Assert.Contains(LongBodyEnd, await File.ReadAllTextAsync(relayed));
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
        Assert.Empty(await Smtpctl.QueueAsync(peer));
    }

    const string LongBodyEnd = "END-OF-LONG-BODY";

    /// <summary>A message of about 200 KB, whose headers end long before the middle of its compressed file.</summary>
    static async Task SendLongAsync(int port, string rcpt)
    {
        var body = new System.Text.StringBuilder();
        for (int i = 0; i < 3000; i++) body.Append($"line {i} {Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24))}\r\n");
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync($"MAIL FROM:<{Marker}@example.org>");
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync($"Subject: long\r\n\r\n{body}{LongBodyEnd}\r\n."));
    }

    /// <summary>The files in corrupt/, which is made only when something is first moved there.</summary>
    static string[] Quarantined(SmtpdInstance smtpd)
    {
        string corrupt = Path.Combine(smtpd.Spool, "corrupt");
        return Directory.Exists(corrupt) ? Directory.GetFiles(corrupt, "*", SearchOption.AllDirectories) : [];
    }
}
