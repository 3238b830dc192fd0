using System.Text;
using static Smtpd.Tests.EndToEnd.PrivilegeSeparationTests;

namespace Smtpd.Tests.EndToEnd;

// Path of the mail: several SMTP sessions at once → smtpd (started as root, running as _smtpd)
// → queue → Mda → one delivery process for the recipient's identity (started by the privileged
// helper), which runs the deliveries side by side, their messages interleaved on one socket →
// maildirs written as that user.
public sealed class DeliveryProcessTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Mail for anyone is kept by one account (a "vmail" setup): every delivery has the same identity.</summary>
    static string Config(string dir) => $$"""
        listen on 127.0.0.1 port {port}
        action "vmail" maildir "{{dir}}/maildirs/%{dest.user}" user {{TestUsers.Ordinary}}
        match from any for local action "vmail"
        """;

    /// <summary>A body of about 150 KiB (three wire frames), different for each message.</summary>
    static string Body(int seq)
    {
        var text = new StringBuilder();
        var random = new Random(seq);
        for (int line = 0; line < 2000; line++)
            text.Append($"{seq:D3}-{line:D4} ").Append(Convert.ToHexString(BitConverter.GetBytes(random.NextInt64()))).Append(new string((char)('a' + line % 26), 50)).Append("\r\n");
        return text.ToString().TrimEnd();
    }

    /// <summary>Sends <paramref name="count"/> messages per recipient over <paramref name="sessions"/> sessions at once.</summary>
    static async Task SendBurstAsync(int port, string[] recipients, int count, int sessions)
    {
        var work = Enumerable.Range(0, count * recipients.Length).Select(i => (Seq: i, To: recipients[i % recipients.Length])).ToList();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(async s =>
        {
            await using var d = await SmtpDialogue.ConnectAsync(port);
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            foreach (var (seq, to) in work.Where(w => w.Seq % sessions == s))
            {
                Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
                Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{to}@localhost>"));
                Assert.StartsWith("354", await d.CommandAsync("DATA"));
                Assert.StartsWith("250", await d.CommandAsync($"Subject: message {seq}\r\n\r\n{Body(seq)}\r\n."));
            }
        }));
    }

    /// <summary>Counts our delivery processes every few milliseconds until <paramref name="done"/>; the most seen at once.</summary>
    static async Task<int> MostDeliveryProcessesAsync(int helper, Task done)
    {
        int most = 0;
        while (!done.IsCompleted)
        {
            most = Math.Max(most, ProcessesWith("--delivery-worker").Count(pid => ParentOf(pid) == helper));
            await Task.WhenAny(done, Task.Delay(20));
        }
        return most;
    }

    static int Helper(SmtpdInstance smtpd) => Assert.Single(ProcessesWith("--privileged-helper"), pid => ParentOf(pid) == smtpd.Process.Id);

    [SkippableFact]
    public async Task A_burst_for_one_identity_is_delivered_by_one_process_and_every_message_lands_intact()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig(Config(smtpd.Dir));
        await smtpd.StartAsync();
        const int perRecipient = 12;
        string[] recipients = ["daemon", "bin"];

        var delivered = Task.Run(async () =>
        {
            await SendBurstAsync(smtpd.Port, recipients, perRecipient, sessions: 4);
            await smtpd.WaitForLogAsync("result=Ok", Timeout, count: perRecipient * recipients.Length);
        });
        int most = await MostDeliveryProcessesAsync(Helper(smtpd), delivered);
        await delivered;

        // Before, each of up to four deliveries at once had a process of its own.
        Assert.Equal(1, most);
        Assert.Equal(perRecipient * recipients.Length, System.Text.RegularExpressions.Regex.Matches(smtpd.Log, "result=Ok").Count);
        // The messages crossed the socket interleaved, frame by frame: each came out whole, and in its own file.
        for (int r = 0; r < recipients.Length; r++)
        {
            var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, recipients[r]), perRecipient, Timeout);
            Assert.Equal(perRecipient, files.Length);
            var bySubject = files.Select(File.ReadAllText).ToDictionary(t => System.Text.RegularExpressions.Regex.Match(t, "Subject: message (\\d+)").Groups[1].Value);
            for (int i = 0; i < perRecipient; i++)
            {
                int seq = i * recipients.Length + r;
                Assert.EndsWith("\n\n" + Body(seq).Replace("\r\n", "\n") + "\n", bySubject[seq.ToString()]);
            }
            Assert.All(files, f => Assert.Equal(TestUsers.Uid(TestUsers.Ordinary), OwnerUid(f).GetAwaiter().GetResult()));
        }
    }

    [SkippableFact]
    public async Task A_delivery_that_fails_leaves_the_others_in_the_same_process_alone()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig(Config(smtpd.Dir));
        // bin's maildir is root's and read-only: the delivery user cannot create tmp/ in it.
        string readOnly = Path.Combine(smtpd.Maildirs, "bin");
        Directory.CreateDirectory(readOnly);
        File.SetUnixFileMode(readOnly, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        await smtpd.StartAsync();
        const int perRecipient = 8;

        var logged = Task.Run(async () =>
        {
            await SendBurstAsync(smtpd.Port, ["daemon", "bin"], perRecipient, sessions: 4);
            await smtpd.WaitForLogAsync("result=Ok", Timeout, count: perRecipient);
            await smtpd.WaitForLogAsync("result=TempFail", Timeout, count: perRecipient);
        });
        int most = await MostDeliveryProcessesAsync(Helper(smtpd), logged);
        await logged;

        Assert.Equal(1, most);
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, "daemon"), perRecipient, Timeout);
        Assert.Equal(perRecipient, files.Length);
        Assert.All(files, f => Assert.EndsWith(Body(int.Parse(System.Text.RegularExpressions.Regex.Match(File.ReadAllText(f), "Subject: message (\\d+)").Groups[1].Value)).Replace("\r\n", "\n") + "\n", File.ReadAllText(f)));
        // The failures are the maildir's, said as such, and temporary: the mail waits in the queue.
        Assert.Contains("Permission denied", smtpd.Log.Split('\n').First(l => l.Contains("to=<bin@localhost>") && l.Contains("result=TempFail")));
        Assert.Empty(Directory.GetFileSystemEntries(readOnly));
    }
}
