using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mda;
using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

// client ──SMTP──▶ ours / OpenSMTPD 6.8 (same smtpd.conf) ──▶ maildir, mbox, mda command,
//                                                             LMTP (a private Dovecot), after
//                                                             aliases, virtual, userbase, ~/.forward
// The same messages through both servers; what each recipient finds is compared: header fields,
// body, file modes and owners, and the servers' delivery log lines.
public sealed class DeliverySideBySideTests(ITestOutputHelper output) : IAsyncLifetime
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    const string Message = """
        From: Alice <alice@example.org>
        To: someone@example.org
        Subject: side by side
        Date: Mon, 7 Dec 2026 01:02:03 +0000
        Message-ID: <fixed@example.org>

        first line
        ..a stuffed dot
        last line
        """;

    string _forwarder = "", _home = "";
    DovecotLmtp? _dovecot;
    ServerPair? _pair;

    string Config => $$"""
        listen on 127.0.0.1 port {port}
        table aliases { "team" = "smtpdtest, {{_forwarder}}", "postmaster" = "smtpdtest", "closed" = "error:550 5.2.1 this list is closed", "later" = "error:450 4.2.1 try this list later", "nobody-at-all" = "no-such-user-here" }
        table virt { "info@virt.test" = "smtpdtest", "both@virt.test" = "smtpdtest, {{_forwarder}}", "v@ub.test" = "vuser" }
        table users { "vuser" = "1001:1001:/home/smtpdtest" }
        action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
        action "mbox" mbox
        action "mda" mda "cat > {dir}/maildirs/mda-%{user.username}"
        action "lmtp" lmtp "127.0.0.1:{{_dovecot!.Port}}" rcpt-to
        action "virt" maildir "{dir}/maildirs/%{user.username}" virtual <virt>
        action "ub" maildir "{dir}/maildirs/%{user.username}" virtual <virt> userbase <users>
        match from local for domain "mbox.test" action "mbox"
        match from local for domain "mda.test" action "mda"
        match from local for domain "lmtp.test" action "lmtp"
        match from local for domain "virt.test" action "virt"
        match from local for domain "ub.test" action "ub"
        match from local for local action "local"
        """;

    public async Task InitializeAsync()
    {
        if (OpenSmtpdInstance.Unavailable is not null || !DovecotLmtp.Available) return;
        // A user with a ~/.forward of its own (never smtpdtest's home, which other tests share).
        _home = Directory.CreateTempSubdirectory("sbs-home-").FullName;
        File.SetUnixFileMode(_home, (UnixFileMode)0b111_101_101);
        _forwarder = "sbsfwd" + Random.Shared.Next(100000, 999999);
        var (code, text) = await ExternalTool.RunAsync("useradd", ["--create-home", "--home-dir", Path.Combine(_home, _forwarder), "--shell", "/bin/sh", _forwarder]);
        Assert.True(code == 0, text);
        string forward = Path.Combine(_home, _forwarder, ".forward");
        File.WriteAllText(forward, $"smtpdtest, \\{_forwarder}\n");
        await ExternalTool.RunAsync("chown", [$"{_forwarder}:{_forwarder}", forward]);
        _dovecot = new DovecotLmtp("smtpdtest");
        _pair = await ServerPair.StartAsync(Config);
    }

    public async Task DisposeAsync()
    {
        if (_pair is not null) await _pair.DisposeAsync();
        if (_dovecot is not null) await _dovecot.DisposeAsync();
        if (_forwarder.Length > 0) await ExternalTool.RunAsync("userdel", [_forwarder]);
        if (_home.Length > 0) try { Directory.Delete(_home, recursive: true); } catch (IOException) { }
    }

    static readonly string[] Recipients =
        ["smtpdtest@localhost", "team@localhost", "smtpdtest@mbox.test", "smtpdtest@mda.test", "smtpdtest@lmtp.test",
         "info@virt.test", "both@virt.test", "v@ub.test"];

    /// <summary>Sends the message to every recipient (one transaction each) and reads what each recipient got.</summary>
    async Task<Dictionary<string, string?>> ObserveAsync(ISideServer s, int lmtpBefore)
    {
        var seen = new Dictionary<string, string?>();
        foreach (var rcpt in Recipients)
            seen[$"{rcpt}: end of DATA"] = SmtpReply.Codes(await Session.SendAsync(s, "alice@example.org", [rcpt], Message.Replace("someone@example.org", rcpt)));

        await Queue.WaitEmptyAsync(s);
        // Alias entries that refuse: the reply a client sees at RCPT.
        foreach (var rcpt in new[] { "closed@localhost", "later@localhost", "nobody-at-all@localhost" })
        {
            var r = await Session.RunAsync(s, ["EHLO client.example", "MAIL FROM:<alice@example.org>", $"RCPT TO:<{rcpt}>", "QUIT"]);
            string codes = SmtpReply.Codes(r[3]);
            seen[$"{rcpt}: RCPT reply code"] = codes[..3];
            // The enhanced code an error: entry names (OpenSMTPD's own refusal has none: see the dialogue's kept 5.1.1).
            if (!rcpt.StartsWith("nobody")) seen[$"{rcpt}: RCPT reply enhanced code"] = codes;
            seen[$"{rcpt}: RCPT reply text"] = r[3][(codes.Length + 1)..];
        }
        string Dir(string user) => Path.Combine(s.Maildirs, user);
        // smtpdtest's maildir: direct, team (alias), team→forwarder→smtpdtest, info@virt, both@virt, both@virt→forwarder→smtpdtest.
        var mine = await Delivered.MaildirAsync(s, "smtpdtest", 0);
        seen["smtpdtest maildir: messages"] = mine.Count.ToString();
        seen["smtpdtest maildir: Delivered-To values"] = string.Join(" ", mine.Select(m => m.Header("Delivered-To")).Order());
        var direct = mine.FirstOrDefault(m => m.Header("Delivered-To") == "smtpdtest@localhost" && m.Header("To") == "smtpdtest@localhost");
        Describe(seen, "maildir", direct);
        var file = Directory.GetFiles(Path.Combine(Dir("smtpdtest"), "new")).FirstOrDefault();
        seen["maildir: file mode and owner"] = file is null ? null : await StatAsync(file);
        foreach (var sub in new[] { "", "new", "cur", "tmp" })
            seen[$"maildir: {(sub == "" ? "top" : sub)} directory mode and owner"] = await StatAsync(Path.Combine(Dir("smtpdtest"), sub));

        var fwd = await Delivered.MaildirAsync(s, _forwarder, 0);
        seen["forwarder (\\self in .forward) keeps: messages"] = fwd.Count.ToString();
        seen["forwarder: Delivered-To values"] = string.Join(" ", fwd.Select(m => m.Header("Delivered-To")?.Replace(_forwarder, "FWD")).Order());

        var vuser = await Delivered.MaildirAsync(s, "vuser", 0);
        seen["userbase: messages"] = vuser.Count.ToString();
        seen["userbase: owner of the maildir"] = Directory.Exists(Dir("vuser")) ? await StatAsync(Dir("vuser")) : null;
        Describe(seen, "userbase", vuser.FirstOrDefault());

        string mbox = await Mailboxes.WaitForMboxAsync(Path.Combine(s.MailSpool, "smtpdtest"), 1, Timeout);
        string firstLine = mbox.Split('\n')[0];
        seen["mbox: From_ line"] = Normalise.Text(System.Text.RegularExpressions.Regex.Replace(firstLine, @"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", "<ctime>"));
        Describe(seen, "mbox", mbox.Length == 0 ? null : Delivered.Parse(mbox[(firstLine.Length + 1)..].TrimEnd('\n') + "\n", s.Dir));
        seen["mbox: file mode and owner"] = File.Exists(Path.Combine(s.MailSpool, "smtpdtest")) ? await StatAsync(Path.Combine(s.MailSpool, "smtpdtest")) : null;

        string mdaOut = Path.Combine(s.Maildirs, "mda-smtpdtest");
        await WaitAsync(() => File.Exists(mdaOut) && new FileInfo(mdaOut).Length > 0);
        Describe(seen, "mda", File.Exists(mdaOut) ? Delivered.Parse(File.ReadAllText(mdaOut), s.Dir) : null);

        string lmtpNew = Path.Combine(_dovecot!.MailDir("smtpdtest"), "Maildir", "new");
        await WaitAsync(() => Directory.Exists(lmtpNew) && Directory.GetFiles(lmtpNew).Length > lmtpBefore);
        var lmtpFile = Directory.Exists(lmtpNew) ? Directory.GetFiles(lmtpNew).OrderBy(File.GetLastWriteTimeUtc).Skip(lmtpBefore).FirstOrDefault() : null;
        Describe(seen, "lmtp", lmtpFile is null ? null : Delivered.Parse(File.ReadAllText(lmtpFile), s.Dir));

        // The delivery log lines: one per recipient, fields compared with ids and delays blanked.
        var lines = s.Log.Split('\n').Where(l => l.Contains(" delivery evpid=")).Select(l => DeliveryLine(l)).Order(StringComparer.Ordinal).ToList();
        seen["log: delivery lines"] = lines.Count.ToString();
        foreach (var line in lines.Distinct()) seen[$"log: {line.Split(' ').FirstOrDefault(f => f.StartsWith("rcpt=")) ?? line}"] = line;
        return seen;
    }

    string DeliveryLine(string line) =>
        System.Text.RegularExpressions.Regex.Replace(Normalise.Text(line[(line.IndexOf(' ') + 1)..]), @"delay=\S+", "delay=<d>").Replace(_forwarder, "FWD");

    // Found by this suite and reported, not fixed yet (none now; docs/DEVIATIONS.md).
    static readonly Dictionary<string, string> Pending = new()
    {
    };

    // docs/DEVIATIONS.md: one copy per mailbox per message. OpenSMTPD 6.8 delivers a second copy to
    // smtpdtest when team@ (an alias) reaches it directly and through the forwarder's ~/.forward,
    // but one copy for the same shape through a virtual table (both@virt.test).
    const string OneCopy = "one copy per mailbox per message, as OpenSMTPD itself does through a virtual table";
    static readonly Dictionary<string, (string Ours, string Why)> Kept = new()
    {
        ["smtpdtest maildir: messages"] = ("4", OneCopy),
        ["smtpdtest maildir: Delivered-To values"] = ("both@virt.test info@virt.test smtpdtest@localhost team@localhost", OneCopy),
        ["log: delivery lines"] = ("10", OneCopy),
    };

    static void Describe(Dictionary<string, string?> seen, string what, Delivered? m)
    {
        seen[$"{what}: delivered"] = (m is not null).ToString();
        seen[$"{what}: header names"] = m?.HeaderNames;
        foreach (var h in new[] { "Return-Path", "Delivered-To", "Received", "Subject", "Message-ID" })
            seen[$"{what}: {h}"] = m?.Header(h);
        seen[$"{what}: body"] = m?.Body;
    }

    static string? LmtpId(string? received) =>
        received is null ? null : System.Text.RegularExpressions.Regex.Replace(received, @"with LMTP id \S+", "with LMTP id <id>");

    static async Task<string> StatAsync(string path) => (await ExternalTool.RunAsync("stat", ["-c", "%a %U", path])).Output.Trim();

    static async Task WaitAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!done() && DateTime.UtcNow < deadline) await Task.Delay(50);
    }

    [SkippableFact]
    public async Task Maildir_mbox_mda_lmtp_after_aliases_virtual_userbase_and_forward()
    {
        Skip.If(OpenSmtpdInstance.Unavailable is not null, OpenSmtpdInstance.Unavailable);
        Skip.IfNot(DovecotLmtp.Available, "Dovecot's LMTP server is not installed");
        var ours = await ObserveAsync(_pair!.Ours, 0);
        var theirs = await ObserveAsync(_pair.Theirs, 1);
        var c = new Comparison(output, "delivery");
        foreach (var key in ours.Keys.Union(theirs.Keys).Order(StringComparer.Ordinal))
        {
            ours.TryGetValue(key, out var o);
            theirs.TryGetValue(key, out var t);
            if (key.EndsWith(": Received", StringComparison.Ordinal) && !key.StartsWith("lmtp", StringComparison.Ordinal)) // lmtp: Dovecot's own comes first
            {
                // Our Received: names us, not OpenSMTPD (the one field where we say who we are).
                c.Deviation(key + " names its server", o?.Contains("(smtpd)").ToString(), "True", t?.Contains("(OpenSMTPD)").ToString());
                (o, t) = (o?.Replace("(smtpd)", "(<server>)"), t?.Replace("(OpenSMTPD)", "(<server>)"));
            }
            if (key == "lmtp: Received") // Dovecot's: each delivery has its own id
                (o, t) = (LmtpId(o), LmtpId(t));
            c.Observe(key, o, t, Kept, Pending);
        }
        output.WriteLine($"ours' log:\n{_pair.Ours.Log}\ntheirs' log:\n{_pair.Theirs.Log}");
        c.AssertAll();
    }
}
