using System.Text;
using MailKit.Net.Smtp;
using MimeKit;

namespace Smtpd.Tests.EndToEnd;

// Path of the mail: MailKit (or swaks) → smtpd on 127.0.0.1:{port} → fs queue (fsync'd) →
// scheduler → Mda → maildir {dir}/maildirs/USER or mbox {dir}/mail/USER.
public sealed class DeliveryTests
{
    static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(30);

    const string MaildirConfig = """
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from local for local action "local"
        """;

    const string MboxConfig = """
        listen on 127.0.0.1 port {port}
        action "local" mbox
        match from local for local action "local"
        """;

    static MimeMessage TestMessage(string to, string subject)
    {
        var m = new MimeMessage();
        m.From.Add(new MailboxAddress("Alice", "alice@example.org"));
        m.To.Add(MailboxAddress.Parse(to));
        m.Subject = subject;
        m.Body = new TextPart("plain")
        {
            Text = "First line.\r\n.A line that starts with a dot\r\n..two dots\r\n.\r\nFrom the start of a line\r\n" +
                   new string('L', 1200) + "\r\nlast line\r\n",
        };
        return m;
    }

    static string Serialize(MimeMessage m)
    {
        using var ms = new MemoryStream();
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        m.WriteTo(options, ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static async Task SendAsync(int port, MimeMessage m, params string[] rcpts)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
        await client.SendAsync(m, MailboxAddress.Parse("alice@example.org"), rcpts.Select(MailboxAddress.Parse));
        await client.DisconnectAsync(true);
    }

    /// <summary>What we stored, with the headers smtpd adds removed, in CRLF form.</summary>
    static string WithoutAddedHeaders(string delivered)
    {
        string crlf = delivered.Replace("\r\n", "\n").Replace("\n", "\r\n");
        var lines = crlf.Split("\r\n").ToList();
        int i = 0;
        while (i < lines.Count && (lines[i].StartsWith("Return-Path:") || lines[i].StartsWith("Delivered-To:"))) i++;
        if (i < lines.Count && lines[i].StartsWith("Received:"))
            for (i++; i < lines.Count && lines[i].StartsWith('\t'); i++) { }
        return string.Join("\r\n", lines.Skip(i));
    }

    [Fact]
    public async Task MailKit_message_lands_in_the_maildir_byte_for_byte()
    {
        await using var smtpd = new SmtpdInstance(MaildirConfig);
        await smtpd.StartAsync();
        string me = TestUsers.Recipient;
        var message = TestMessage($"{me}@localhost", "byte for byte");
        await SendAsync(smtpd.Port, message, $"{me}@localhost");

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", me), 1, DeliveryTimeout);
        Assert.Single(files);
        string delivered = await File.ReadAllTextAsync(files[0]);

        Assert.StartsWith("Return-Path: <alice@example.org>", delivered);
        Assert.Contains($"Delivered-To: {me}@localhost", delivered);
        Assert.Matches(@"Received: from [^\r\n]+\r?\n\tby [^ ]+ \(smtpd\) with ESMTP id [0-9a-f]{8}", delivered);
        Assert.Equal(Serialize(message), WithoutAddedHeaders(delivered));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(files[0]));
        await smtpd.WaitForLogAsync("result=Ok", DeliveryTimeout);
        Assert.Matches(@"delivery evpid=[0-9a-f]{16} from=<alice@example.org> to=<" + me + @"@localhost> rcpt=<[^>]+> user=" + me + @" delay=\d+s result=Ok stat=", smtpd.Log);

        // Delivered means gone from the queue.
        await WaitUntil(() => Directory.GetDirectories(Path.Combine(smtpd.Spool, "queue")).All(b => Directory.GetDirectories(b).Length == 0));
    }

    [Fact]
    public async Task Three_recipients_give_three_deliveries()
    {
        await using var smtpd = new SmtpdInstance(MaildirConfig);
        await smtpd.StartAsync();
        var rcpts = Mailboxes.ThreeRecipients(out var users);
        await SendAsync(smtpd.Port, TestMessage(rcpts[0], "three"), rcpts);

        await smtpd.WaitForLogAsync("result=Ok", DeliveryTimeout, count: 3);
        int total = 0;
        foreach (var user in users.Distinct())
        {
            var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", user), users.Count(u => u == user), DeliveryTimeout);
            total += files.Length;
            foreach (var f in files)
            {
                Assert.Contains("Subject: three", await File.ReadAllTextAsync(f));
                // Delivered as, and owned by, the recipient: never a root-owned file in a user's mailbox.
                Assert.Equal(user, await OwnerOf(f));
            }
        }
        Assert.Equal(3, total);
        Assert.Matches(@"smtp message msgid=[0-9a-f]{8} size=\d+ nrcpt=3 proto=ESMTP", smtpd.Log);
    }

    [Fact]
    public async Task Mbox_delivery_writes_from_separators_and_escapes()
    {
        await using var smtpd = new SmtpdInstance(MboxConfig);
        await smtpd.StartAsync();
        string me = TestUsers.Recipient;
        await SendAsync(smtpd.Port, TestMessage($"{me}@localhost", "first"), $"{me}@localhost");
        await Mailboxes.WaitForMboxAsync(Path.Combine(smtpd.MailSpool, me), 1, DeliveryTimeout);
        // A later delivery is appended after the earlier one.
        await SendAsync(smtpd.Port, TestMessage($"{me}@localhost", "second"), $"{me}@localhost");

        string mbox = await Mailboxes.WaitForMboxAsync(Path.Combine(smtpd.MailSpool, me), 2, DeliveryTimeout);
        var separators = mbox.Split('\n').Where(l => l.StartsWith("From ")).ToList();
        Assert.Equal(2, separators.Count);
        Assert.All(separators, s => Assert.Matches(@"^From alice@example\.org \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\r?$", s));
        Assert.StartsWith("From alice@example.org ", mbox);
        Assert.Contains("\n>From the start of a line", mbox);
        Assert.Contains("Subject: first", mbox);
        Assert.Contains("Subject: second", mbox);
        Assert.True(mbox.IndexOf("Subject: first") < mbox.IndexOf("Subject: second"));
        var mode = File.GetUnixFileMode(Path.Combine(smtpd.MailSpool, me));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
    }

    [SkippableFact]
    public async Task Swaks_delivers_to_mbox_with_null_sender_as_mailer_daemon()
    {
        Skip.IfNot(File.Exists("/usr/bin/swaks"), "swaks is not installed (apt-get install swaks)");
        await using var smtpd = new SmtpdInstance(MboxConfig);
        await smtpd.StartAsync();
        string me = TestUsers.Recipient;
        var psi = new System.Diagnostics.ProcessStartInfo("swaks") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--server", $"127.0.0.1:{smtpd.Port}", "--from", "<>", "--to", $"{me}@localhost", "--header", "Subject: from swaks", "--body", "hello from swaks" })
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.True(p.ExitCode == 0, output);
        Assert.Matches(@"<-\s+250 2\.0\.0 [0-9a-f]{8} Message accepted", output);

        string mbox = await Mailboxes.WaitForMboxAsync(Path.Combine(smtpd.MailSpool, me), 1, DeliveryTimeout);
        Assert.StartsWith("From MAILER-DAEMON ", mbox);
        Assert.Contains("Return-Path: <>", mbox);
        Assert.Contains("hello from swaks", mbox);
    }

    static async Task<string> OwnerOf(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%U", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string owner = (await p.StandardOutput.ReadToEndAsync()).Trim();
        await p.WaitForExitAsync();
        return owner;
    }

    static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met");
            await Task.Delay(50);
        }
    }
}
