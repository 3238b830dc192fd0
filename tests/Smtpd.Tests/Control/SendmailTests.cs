using System.Diagnostics;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Control;

// sendmail compatibility: our smtpctl invoked through a symlink named "sendmail", as mail
// programs call it; recipients from the header with -t; the offline queue when smtpd is down.
public sealed class SendmailTests : IAsyncDisposable
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    readonly string _bin = Directory.CreateTempSubdirectory("sendmail-bin-").FullName;
    readonly List<string> _users = [];

    public SendmailTests()
    {
        File.CreateSymbolicLink(Path.Combine(_bin, "sendmail"), TestBinaries.SmtpctlExecutable);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var u in _users) await ExternalTool.RunAsync("userdel", [u]);
        Directory.Delete(_bin, recursive: true);
    }

    async Task<string> UserAsync()
    {
        string name = "smtpdsm" + Random.Shared.Next(100000, 999999);
        var (code, output) = await ExternalTool.RunAsync("useradd", ["--no-create-home", "--shell", "/bin/sh", name]);
        Assert.True(code == 0, output);
        _users.Add(name);
        return name;
    }

    static SmtpdInstance Daemon() => new("""
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from local for local action "local"
        """);

    Task<(int Code, string Output)> SendmailAsync(SmtpdInstance smtpd, string message, params string[] args) =>
        RunAsAsync("sendmail", smtpd, message, args);

    static async Task SendAsync(int port, string from, string to)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync($"MAIL FROM:<{from}>");
        await d.CommandAsync($"RCPT TO:<{to}>");
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync("Subject: queued\r\n\r\nbody\r\n."));
    }

    [SkippableFact]
    public async Task Recipients_come_from_to_cc_and_bcc_and_bcc_is_removed()
    {
        Skip.IfNot(Environment.UserName == "root", "creating users needs root");
        string cc = await UserAsync(), bcc = await UserAsync();
        await using var smtpd = Daemon();
        await smtpd.StartAsync();

        var (code, output) = await SendmailAsync(smtpd,
            $"To: {TestUsers.Recipient}@localhost\nCc: {cc}@localhost\nBcc: {bcc}@localhost\nSubject: three ways\n\nhello all\n", "-t", "-oi");
        Assert.True(code == 0, output);
        foreach (var user in new[] { TestUsers.Recipient, cc, bcc })
        {
            var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, user), 1, Timeout);
            string mail = await File.ReadAllTextAsync(Assert.Single(files));
            Assert.Contains("hello all", mail);
            Assert.DoesNotContain("Bcc:", mail);
            Assert.DoesNotContain($"{bcc}@localhost", mail.Split("\n\n")[0].Replace($"Delivered-To: {bcc}@localhost", ""));
            Assert.Contains("Message-ID:", mail);
            Assert.Contains("Return-Path: <root@", mail); // the invoking user, not a claim
        }
    }

    // A temporary refusal (here a spool short of space: 452) is EX_TEMPFAIL for the caller, as
    // sendmail's and Postfix's; a permanent one stays exit 1.
    [Fact]
    public async Task A_temporary_refusal_exits_with_ex_tempfail()
    {
        await using var smtpd = Daemon();
        smtpd.Environment["SMTPD_SPOOL_MINFREE"] = (1L << 50).ToString(); // more than any disk here has free
        await smtpd.StartAsync();
        var (code, output) = await SendmailAsync(smtpd, "Subject: no room\n\nbody\n", $"{TestUsers.Recipient}@localhost");
        Assert.Equal(75, code);
        Assert.Contains("sendmail: message deferred: 452", output);
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "offline")));
    }

    // A daemon that goes away in the middle of a submission (its control socket closes before it
    // said the message was stored): sendmail keeps the message offline, and it is delivered when
    // smtpd is back, instead of an unhandled exception and a lost message.
    [Fact]
    public async Task A_submission_cut_short_by_the_daemon_is_kept_offline_and_delivered_later()
    {
        await using var smtpd = Daemon();
        await smtpd.StartAsync();
        await smtpd.StopAsync();
        File.Delete(smtpd.ControlSocket);
        using var dying = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        dying.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(smtpd.ControlSocket));
        dying.Listen();
        var cut = Task.Run(async () =>
        {
            using var session = await dying.AcceptAsync();
            await session.ReceiveAsync(new byte[64]); // the request, then nothing: closed
        });

        var (code, output) = await SendmailAsync(smtpd, "Subject: cut short\n\nstill here\n", $"{TestUsers.Recipient}@localhost");
        await cut.WaitAsync(Timeout);
        Assert.True(code == 0, output);
        Assert.Contains("sendmail: lost the connection to smtpd", output);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Spool, "offline")));

        dying.Close();
        File.Delete(smtpd.ControlSocket);
        await smtpd.StartAsync();
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("still here", File.ReadAllText(Assert.Single(files)));
    }

    // smtpd.c's offline_enqueue: anyone may write into offline/, so only a regular file with one
    // link is taken; a hard link or a symlink to someone else's file is set aside, not sent.
    [Fact]
    public async Task An_offline_hard_link_or_symlink_is_set_aside_and_only_the_real_file_is_sent()
    {
        await using var smtpd = Daemon();
        await smtpd.StartAsync();
        await smtpd.StopAsync();
        var (code, output) = await SendmailAsync(smtpd, "Subject: the real one\n\nreal\n", $"{TestUsers.Recipient}@localhost");
        Assert.True(code == 0, output);
        string offline = Path.Combine(smtpd.Spool, "offline");
        string real = Assert.Single(Directory.GetFiles(offline));
        string elsewhere = Path.Combine(smtpd.Dir, "someone-elses-file");
        File.WriteAllText(elsewhere, File.ReadAllText(real).Replace("the real one", "not yours"));
        Assert.Equal(0, (await ExternalTool.RunAsync("ln", [elsewhere, Path.Combine(offline, "hardlink")])).Code);
        File.CreateSymbolicLink(Path.Combine(offline, "symlink"), elsewhere);

        await smtpd.StartAsync();
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        await smtpd.WaitForLogAsync("offline message hardlink refused (hard link)", Timeout);
        await smtpd.WaitForLogAsync("offline message symlink refused (not a regular file)", Timeout);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Contains("Subject: the real one", File.ReadAllText(Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Maildirs, TestUsers.Recipient, "new")))));
        Assert.True(File.Exists(Path.Combine(offline, "hardlink.bad")));
        Assert.True(File.Exists(elsewhere));
    }

    [Fact]
    public async Task Mail_sent_while_smtpd_is_down_is_delivered_once_when_it_starts()
    {
        await using var smtpd = Daemon();
        await smtpd.StartAsync();
        await smtpd.StopAsync();

        var (code, output) = await SendmailAsync(smtpd, "Subject: while down\n\nkept offline\n", $"{TestUsers.Recipient}@localhost");
        Assert.True(code == 0, output);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Spool, "offline")));

        await smtpd.StartAsync();
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("kept offline", await File.ReadAllTextAsync(Assert.Single(files)));
        // Removed once enqueued (which may be a moment after the delivery itself).
        for (var deadline = DateTime.UtcNow + Timeout; Directory.GetFiles(Path.Combine(smtpd.Spool, "offline")).Length > 0 && DateTime.UtcNow < deadline;)
            await Task.Delay(50);
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "offline")));
        await smtpd.StopAsync();
        await smtpd.StartAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Maildirs, TestUsers.Recipient, "new"))); // once, not at every start
    }

    /// <summary>Runs the smtpctl binary under another name (a symlink), as mail programs and admins call it.</summary>
    async Task<(int Code, string Output)> RunAsAsync(string name, SmtpdInstance smtpd, string input, params string[] args)
    {
        string link = Path.Combine(_bin, name);
        if (!File.Exists(link)) File.CreateSymbolicLink(link, TestBinaries.SmtpctlExecutable);
        var psi = new ProcessStartInfo(link) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SMTPD_SOCKET"] = smtpd.ControlSocket;
        psi.Environment["SMTPD_SPOOL"] = smtpd.Spool;
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.StandardInput.WriteAsync(input);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(Timeout);
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await output + await error);
    }

    [Fact]
    public async Task The_sendmail_verb_sets_the_full_name_and_mailq_and_show_hosts_relays_answer()
    {
        await using var smtpd = Daemon();
        await smtpd.StartAsync();
        // smtpctl's own verb, with -F: a message without From: gets one with that name.
        var (code, output) = await RunAsAsync("smtpctl", smtpd, "Subject: by the verb\n\nbody\n",
            "sendmail", "-F", "Jane Admin", "-f", "jane@localhost", TestUsers.Recipient);
        Assert.True(code == 0, output);
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        string delivered = File.ReadAllText(files[0]);
        Assert.Contains("From: \"Jane Admin\" <jane@localhost>", delivered);
        Assert.Contains("Return-Path: <jane@localhost>", delivered);

        // Called as mailq: the queue, as smtpctl show queue prints it.
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mda")).Code);
        (code, output) = await RunAsAsync("sendmail", smtpd, "Subject: waits\n\nbody\n", TestUsers.Recipient);
        Assert.True(code == 0, output);
        var (mailqCode, mailq) = await RunAsAsync("mailq", smtpd, "");
        Assert.Equal(0, mailqCode);
        Assert.Contains($"|{TestUsers.Recipient}@", mailq);
        // The same lines, but for the seconds an envelope has been in flight, read a moment apart.
        static string Untimed(string queue) => System.Text.RegularExpressions.Regex.Replace(queue, @"\|inflight\|\d+\|", "|inflight|<s>|");
        Assert.Equal(Untimed((await Smtpctl.RunAsync(smtpd, "show", "queue")).Output), Untimed(mailq));

        // Nothing was relayed: show routes, hosts and relays answer, with no line.
        foreach (var verb in new[] { "routes", "hosts", "relays" })
            Assert.Equal((0, ""), await Smtpctl.RunAsync(smtpd, "show", verb));
    }

    // sendmail pipelines its commands (one write up to DATA): a refused recipient among good ones
    // must still stop the whole message, as it did when each command waited for its reply.
    [Fact]
    public async Task A_refused_recipient_refuses_the_message_and_nothing_is_queued_or_delivered()
    {
        await using var smtpd = Daemon();
        await smtpd.StartAsync();
        var (code, output) = await SendmailAsync(smtpd, "Subject: partly\n\nnot for anyone\n",
            $"{TestUsers.Recipient}@localhost", "someone@far.example");
        Assert.NotEqual(0, code);
        Assert.Contains("message refused: 550", output);
        Assert.Contains("someone@far.example", output);

        // Sent after, so that once it is delivered the refused one would have been too.
        (code, output) = await SendmailAsync(smtpd, "Subject: after\n\nthe good one\n", $"{TestUsers.Recipient}@localhost");
        Assert.True(code == 0, output);
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("the good one", await File.ReadAllTextAsync(Assert.Single(files)));
        var (_, queue) = await SendmailAsync(smtpd, "", "-bp");
        Assert.DoesNotContain("far.example", queue);
    }

    [Fact]
    public async Task Without_dash_i_a_lone_dot_ends_the_message_and_mailq_lists_the_queue()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        var (code, output) = await SendmailAsync(smtpd, "Subject: dots\n\nfirst\n.\nnot part of it\n", "someone@far.example");
        Assert.True(code == 0, output);
        (code, output) = await SendmailAsync(smtpd, "", "-bp");
        Assert.Equal(0, code);
        Assert.Contains("|someone@far.example|", output);
        string msgid = output.Split('|')[0][..8];
        var (_, message) = await Smtpctl.RunAsync(smtpd, "show", "message", msgid);
        Assert.Contains("first", message);
        Assert.DoesNotContain("not part of it", message);
    }

    [SkippableFact]
    public async Task A_normal_user_cannot_pause_or_remove()
    {
        Skip.IfNot(Environment.UserName == "root", "switching users needs root");
        Skip.IfNot((await ExternalTool.RunAsync("id", ["smtpdtest"])).Code == 0, "user smtpdtest does not exist (.ci/run creates it)");
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        // The test's binaries may sit where smtpdtest cannot read them: copy them.
        TestBinaries.CopyTo(_bin);
        File.SetUnixFileMode(_bin, (UnixFileMode)0b111_101_101);
        foreach (var verb in new[] { new[] { "pause", "smtp" }, ["remove", "all"], ["schedule", "all"], ["reload"], ["show", "tls-policy", "example.org"] })
        {
            var (code, output) = await ExternalTool.RunAsync("runuser", ["-u", "smtpdtest", "--", "env", $"SMTPD_SOCKET={smtpd.ControlSocket}",
                "HOME=/tmp", "DOTNET_CLI_HOME=/tmp", .. TestBinaries.Command("smtpctl", _bin), .. verb]);
            Assert.Equal(1, code);
            Assert.Contains("permission denied", output);
        }
        var (_, status) = await Smtpctl.RunAsync(smtpd, "show", "status");
        Assert.Contains("SMTP running", status);

        // The queue: a normal user sees their own mail only.
        await SendAsync(smtpd.Port, "alice@example.org", "for@far.example");
        await SendAsync(smtpd.Port, "smtpdtest@example.org", "mine@far.example");
        var (queueCode, queue) = await ExternalTool.RunAsync("runuser", ["-u", "smtpdtest", "--", "env", $"SMTPD_SOCKET={smtpd.ControlSocket}",
            "HOME=/tmp", "DOTNET_CLI_HOME=/tmp", .. TestBinaries.Command("smtpctl", _bin), "show", "queue"]);
        Assert.Equal(0, queueCode);
        Assert.Contains("|mine@far.example|", queue);
        Assert.DoesNotContain("for@far.example", queue);
        var (showCode, _) = await ExternalTool.RunAsync("runuser", ["-u", "smtpdtest", "--", "env", $"SMTPD_SOCKET={smtpd.ControlSocket}",
            "HOME=/tmp", "DOTNET_CLI_HOME=/tmp", .. TestBinaries.Command("smtpctl", _bin), "show", "stats"]);
        Assert.Equal(0, showCode); // reading statistics is for everyone
    }

    /// <summary>Our binaries copied where smtpdtest can run them, with the sendmail and mailq names.</summary>
    string UserBin()
    {
        string dir = Path.Combine(_bin, "user");
        Directory.CreateDirectory(dir);
        TestBinaries.CopyTo(dir);
        foreach (var name in new[] { "sendmail", "mailq" })
            if (!File.Exists(Path.Combine(dir, name))) File.CreateSymbolicLink(Path.Combine(dir, name), "smtpctl");
        File.SetUnixFileMode(_bin, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        return dir;
    }

    static Task<(int Code, string Output)> AsUserAsync(SmtpdInstance smtpd, string bin, string program, string stdin, params string[] args) =>
        ExternalTool.RunAsync("runuser", ["-u", "smtpdtest", "--", "env", $"SMTPD_SOCKET={smtpd.ControlSocket}", $"SMTPD_SPOOL={smtpd.Spool}",
            "HOME=/tmp", "DOTNET_CLI_HOME=/tmp", Path.Combine(bin, program), .. args], stdin);

    static async Task<Dictionary<string, string>> MailBySubjectAsync(SmtpdInstance smtpd, int count)
    {
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), count, Timeout);
        var mails = new Dictionary<string, string>();
        foreach (var f in files)
        {
            string mail = await File.ReadAllTextAsync(f);
            string subject = mail.Split('\n').First(l => l.StartsWith("Subject: ", StringComparison.Ordinal))["Subject: ".Length..].Trim();
            mails[subject] = mail;
        }
        return mails;
    }

    // smtpdtest --sendmail -f / sendmail -bs / a file in offline/--> control socket --> smtpd --> maildir:
    // the daemon, not only our client, decides the sender of a user who is not root.
    [SkippableFact]
    public async Task A_normal_user_sends_as_themselves_whatever_sender_they_claim_and_root_may_claim_one()
    {
        Skip.IfNot(Environment.UserName == "root", "switching users needs root");
        Skip.IfNot((await ExternalTool.RunAsync("id", ["smtpdtest"])).Code == 0, "user smtpdtest does not exist (.ci/run creates it)");
        await using var smtpd = Daemon();
        await smtpd.StartAsync();
        string bin = UserBin(), rcpt = $"{TestUsers.Recipient}@localhost";

        var (code, output) = await AsUserAsync(smtpd, bin, "sendmail", "Subject: dash-f\n\nclaimed\n", "-f", "someone@else.example", rcpt);
        Assert.True(code == 0, output);
        // A raw SMTP dialogue (what any program on the socket can send) gets the same treatment.
        (code, output) = await AsUserAsync(smtpd, bin, "sendmail",
            $"EHLO me\r\nMAIL FROM:<someone@else.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\nSubject: dash-bs\r\n\r\nraw\r\n.\r\nQUIT\r\n", "-bs");
        Assert.True(code == 0, output);
        Assert.Contains("250 2.0.0", output);
        (code, output) = await SendmailAsync(smtpd, "Subject: root\n\nas root\n", "-f", "boss@else.example", rcpt);
        Assert.True(code == 0, output);
        var mails = await MailBySubjectAsync(smtpd, 3);

        // A file someone left in offline/ is sent as its owner, whatever its sender line says.
        await smtpd.StopAsync();
        string offline = Path.Combine(smtpd.Spool, "offline", "1.forged");
        await File.WriteAllTextAsync(offline, $"someone@else.example\n{rcpt}\n\nSubject: offline\n\nleft here\n");
        Assert.Equal(0, (await ExternalTool.RunAsync("chown", ["smtpdtest", offline])).Code);
        await smtpd.StartAsync();
        mails = await MailBySubjectAsync(smtpd, 4);

        string host = System.Net.Dns.GetHostName();
        Assert.Contains($"Return-Path: <smtpdtest@{host}>", mails["dash-f"]);
        Assert.Contains($"Return-Path: <smtpdtest@{host}>", mails["dash-bs"]);
        Assert.Contains($"Return-Path: <smtpdtest@{host}>", mails["offline"]);
        Assert.Contains("Return-Path: <boss@else.example>", mails["root"]);
        Assert.DoesNotContain("someone@else.example", string.Concat(mails.Values));
    }
}
