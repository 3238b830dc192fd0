using System.Text.RegularExpressions;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.SideBySide;

namespace Smtpd.Tests.Admin;

// Issue 18, item 4: mail in the spool is nobody else's to read. client --SMTP--> smtpd --> spool
// (queued for a relay that never answers, plain, compressed, encrypted; a bounce; a crash and a
// restart; a file left in offline/ by sendmail): every file 0600, every directory 0700, except the
// spool itself (0711) and offline/ (1777, see SpoolModes.OfflineDirectory) — compared with the
// spool of the real OpenSMTPD 6.8 holding the same kind of mail.
public sealed partial class SpoolModeTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    const UnixFileMode Private = (UnixFileMode)0b110_000_000, PrivateDir = (UnixFileMode)0b111_000_000;

    static string Config(string queueLines = "") => $$"""
        {{queueLines}}
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "out" relay
        match from any for local action "local"
        match from any for any action "out"
        """;

    static async Task SendAsync(int port, string from, string rcpt)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{from}>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync("Subject: private\r\n\r\nnobody else reads this\r\n."));
    }

    /// <summary>Every entry under the spool: its path with ids made generic, and its mode.</summary>
    static List<(string Path, UnixFileMode Mode, bool IsDirectory)> Walk(string spool)
    {
        var all = new List<(string, UnixFileMode, bool)> { (".", File.GetUnixFileMode(spool), true) };
        foreach (var entry in new DirectoryInfo(spool).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            try { all.Add((Generic(Path.GetRelativePath(spool, entry.FullName)), entry.UnixFileMode, entry is DirectoryInfo)); }
            catch (FileNotFoundException) { } // delivered and removed since the listing
        }
        return all;
    }

    static string Generic(string relative) => HexId().Replace(relative, m => m.Value.Length switch { 2 => "XX", 8 => "MSGID", _ => "EVPID" });

    [GeneratedRegex("(?<=^|/)(?:[0-9a-f]{16}|[0-9a-f]{8}|[0-9a-f]{2})(?=$|/)")]
    private static partial Regex HexId();

    /// <summary>Our exceptions to 0600/0700, and nothing else readable by others.</summary>
    static void AssertPrivate(string spool)
    {
        var entries = Walk(spool);
        Assert.Contains(entries, e => e.Path == "queue/XX/MSGID/message");
        Assert.Contains(entries, e => e.Path == "queue/XX/MSGID/EVPID");
        foreach (var (path, mode, isDirectory) in entries)
        {
            UnixFileMode expected = path switch
            {
                "." => (UnixFileMode)0b111_001_001,
                "offline" => (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit,
                _ => isDirectory ? PrivateDir : Private,
            };
            Assert.True(mode == expected, $"{path}: {Convert.ToString((int)mode, 8)}, expected {Convert.ToString((int)expected, 8)}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("queue compression")]
    [InlineData("queue compression\nqueue encryption key \"0123456789abcdef0123456789abcdef\"")]
    public async Task Queued_mail_is_private_plain_compressed_and_encrypted(string queueLines)
    {
        await using var smtpd = new SmtpdInstance(Config(queueLines));
        smtpd.Environment["SMTPD_STATS"] = "sqlite"; // statistics live in the spool too
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, "someone@example.org", "someone@far.example"); // stays: the resolver never answers
        await Task.Delay(500); // a first attempt updates the envelope (rewrites it through a .tmp)
        AssertPrivate(smtpd.Spool);
    }

    [Fact]
    public async Task A_bounce_a_crash_and_a_restart_leave_the_spool_private()
    {
        // The next hop refuses the recipient (550): the report to the remote sender stays queued.
        await using var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "accepted.example" action "local"
            """);
        await peer.StartAsync();
        await using var smtpd = new SmtpdInstance(Config().Replace("match from any for any", $"""
            action "peer" relay host smtp://127.0.0.1:{peer.Port}
            match from any for domain "refused.example" action "peer"
            match from any for any
            """));
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, "sender@far.example", "nobody@refused.example");
        for (var deadline = DateTime.UtcNow + Timeout; !(await Smtpctl.QueueAsync(smtpd)).Any(f => f[2] == "bounce" || f[3].Contains("bounce")) && DateTime.UtcNow < deadline;)
            await Task.Delay(100);
        Assert.Contains(await Smtpctl.QueueAsync(smtpd), f => f[2] == "bounce" || f[3].Contains("bounce"));
        AssertPrivate(smtpd.Spool);
        await smtpd.KillAsync();

        // What a crash or an older version leaves behind: a half-written envelope update, a
        // message directory in incoming/, files and directories made under a loose umask.
        string msgdir = Directory.GetDirectories(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories).First(d => File.Exists(Path.Combine(d, "message")));
        File.WriteAllText(Path.Combine(msgdir, "0123456789abcdef.tmp"), "half");
        File.SetUnixFileMode(Path.Combine(msgdir, "0123456789abcdef.tmp"), (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(Path.Combine(msgdir, "message"), (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(msgdir, (UnixFileMode)0b111_101_101);
        Directory.CreateDirectory(Path.Combine(smtpd.Spool, "incoming", "deadbeef"));

        await smtpd.StartAsync();
        await Task.Delay(500);
        AssertPrivate(smtpd.Spool);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(smtpd.Spool, "incoming")));
    }

    // sendmail while smtpd is down: the file left in offline/ is 0600, as OpenSMTPD's smtpctl makes it.
    [Fact]
    public async Task A_message_left_in_offline_is_private()
    {
        await using var smtpd = new SmtpdInstance(Config());
        await smtpd.StartAsync();
        await smtpd.StopAsync();
        var (code, output) = await Smtpctl.RunWithInputAsync(smtpd, "Subject: later\n\nwhile down\n", "sendmail", "someone@far.example");
        Assert.True(code == 0, output);
        string file = Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Spool, "offline")));
        Assert.Equal(Private, File.GetUnixFileMode(file));
    }

    // The same kind of mail held by OpenSMTPD 6.8: every path both spools have carries the same mode,
    // except offline/ (0770 group opensmtpq there, for its setgid smtpctl; 1777 here).
    [SkippableFact]
    public async Task Modes_are_those_of_opensmtpd()
    {
        Skip.If(OpenSmtpdInstance.Unavailable is not null, OpenSmtpdInstance.Unavailable);
        await using var theirs = new OpenSmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "out" relay host smtp://127.0.0.1:9
            match from any for any action "out"
            """);
        await theirs.StartAsync();
        await SendAsync(theirs.Port, "someone@example.org", "someone@far.example");
        await theirs.WaitForLogAsync("smtp envelope", Timeout);

        await using var ours = new SmtpdInstance(Config());
        await ours.StartAsync();
        await SendAsync(ours.Port, "someone@example.org", "someone@far.example");

        var theirModes = Walk(theirs.Spool).Select(e => (e.Path, e.Mode)).Distinct().ToDictionary(e => e.Path, e => e.Mode);
        var ourModes = Walk(ours.Spool).Select(e => (e.Path, e.Mode)).Distinct().ToDictionary(e => e.Path, e => e.Mode);
        foreach (string path in new[] { ".", "queue", "incoming", "purge", "temporary", "queue/XX", "queue/XX/MSGID", "queue/XX/MSGID/message", "queue/XX/MSGID/EVPID" })
        {
            Assert.True(theirModes.ContainsKey(path), $"OpenSMTPD's spool has no {path}: {string.Join(", ", theirModes.Keys)}");
            Assert.True(theirModes[path] == ourModes[path], $"{path}: theirs {Convert.ToString((int)theirModes[path], 8)}, ours {Convert.ToString((int)ourModes[path], 8)}");
        }
        Assert.Equal((UnixFileMode)0b111_111_000, theirModes["offline"]);
        // Nothing of theirs is readable by others either: the documented exceptions are the only differences.
        Assert.All(theirModes.Where(e => e.Key is not ("." or "offline")), e => Assert.Equal(UnixFileMode.None, e.Value & (UnixFileMode)0b000_111_111));
    }
}
