using MimeKit;

namespace Smtpd.Tests.EndToEnd;

// Recipient expansion into real mailboxes: aliases (chains, |command, /file, :include:, error:),
// virtual catch-alls for several domains, the + delimiter, ~/.forward, mda commands and the
// Delivered-To loop check. Needs root (users are created for the test).
public sealed class LocalExpansionTests : IAsyncDisposable
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    readonly List<string> _users = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var u in _users) await ExternalTool.RunAsync("userdel", ["-r", u]);
    }

    async Task<string> UserAsync(string home)
    {
        string name = "smtpdx" + Random.Shared.Next(100000, 999999);
        var (code, output) = await ExternalTool.RunAsync("useradd", ["--create-home", "--home-dir", Path.Combine(home, name), "--shell", "/bin/sh", name]);
        Assert.True(code == 0, output);
        _users.Add(name);
        return name;
    }

    static Task<string> RcptAsync(int port, string rcpt, string subject = "expansion", string extraHeaders = "") =>
        SmtpDialogue.TryDeliverAsync(port, $"{TestUsers.Recipient}@localhost", rcpt, subject, $"body for {rcpt}", extraHeaders);

    static string Drop(SmtpdInstance smtpd)
    {
        string drop = Path.Combine(smtpd.Dir, "drop");
        Directory.CreateDirectory(drop);
        File.SetUnixFileMode(drop, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        return drop;
    }

    static async Task WaitForFileAsync(string path, string content)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            // The daemon may be appending under its lock: ReadMboxAsync waits for it.
            if ((await Mailboxes.ReadMboxAsync(path)).Contains(content)) return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{path} with \"{content}\"");
    }

    [SkippableFact]
    public async Task Aliases_chains_commands_files_includes_and_errors()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root to create users");
        await using var smtpd = new SmtpdInstance();
        string u1 = await UserAsync(smtpd.Dir);
        string drop = Drop(smtpd);
        File.WriteAllText(Path.Combine(smtpd.Dir, "list.txt"), $"# members\n{TestUsers.Recipient}\n");
        File.WriteAllText(Path.Combine(smtpd.Dir, "aliases"), $"""
            team: {TestUsers.Recipient}, {u1}
            chain: team
            loop1: loop2
            loop2: loop1, {TestUsers.Recipient}
            pipe: "|cat > {drop}/pipe-out.txt"
            archive: {drop}/archive.mbox
            listed: :include:{smtpd.Dir}/list.txt
            gone: error:550 This user has left the company
            """);
        smtpd.WriteConfig("""
            table aliases file:{dir}/aliases
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
            match from local for local action "local"
            """);
        await smtpd.StartAsync();

        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "CHAIN@localhost", "chain")); // keys fold to lowercase
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, u1), 1, Timeout);

        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "pipe@localhost", "piped"));
        await WaitForFileAsync(Path.Combine(drop, "pipe-out.txt"), "body for pipe@localhost");

        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "archive@localhost", "archived"));
        await WaitForFileAsync(Path.Combine(drop, "archive.mbox"), "body for archive@localhost");
        Assert.StartsWith($"From {TestUsers.Recipient}@localhost ", await Mailboxes.ReadMboxAsync(Path.Combine(drop, "archive.mbox")));

        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "listed@localhost", "included"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "loop1@localhost", "looped")); // the loop is cut, root still gets it
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 3, Timeout);

        // The alias's own text, naming the recipient as every refusal at RCPT does (OpenSMTPD: "%s: <%s>").
        Assert.Equal("550 5.0.0 This user has left the company: <gone@localhost>", await RcptAsync(smtpd.Port, "gone@localhost"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "nobody-here@localhost"));
    }

    [SkippableFact]
    public async Task Virtual_catch_alls_for_several_domains_and_plus_tags()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root to create users");
        await using var smtpd = new SmtpdInstance();
        string u1 = await UserAsync(smtpd.Dir);
        smtpd.WriteConfig($$"""
            table vdomains { one.example, two.example }
            table virt { "boss@one.example" = "{{u1}}", "@one.example" = "{{TestUsers.Recipient}}", "@two.example" = "{{TestUsers.Recipient}}, {{u1}}" }
            listen on 127.0.0.1 port {port}
            action "vmail" maildir "{dir}/maildirs/%{user.username}" virtual <virt>
            match from any for domain <vdomains> action "vmail"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "boss@one.example", "to the boss"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "boss+invoices@one.example", "tagged"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "anyone@one.example", "catch-all one"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "x@two.example", "catch-all two"));
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, "x@three.example"));

        var bossMail = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, u1), 3, Timeout);
        var subjects = bossMail.Select(f => MimeMessage.Load(f).Subject ?? "").Order().ToArray();
        Assert.Equal(new[] { "catch-all two", "tagged", "to the boss" }, subjects);
        var rootMail = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);
        Assert.Equal(new[] { "catch-all one", "catch-all two" }, rootMail.Select(f => MimeMessage.Load(f).Subject ?? "").Order().ToArray());
        // The delivered file belongs to the recipient.
        var (_, owner) = await ExternalTool.RunAsync("stat", ["-c", "%U", bossMail[0]]);
        Assert.Equal(u1, owner.Trim());
    }

    [SkippableFact]
    public async Task Empty_forward_delivers_normally_a_forward_with_entries_redirects()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root to create users");
        await using var smtpd = new SmtpdInstance();
        string quiet = await UserAsync(smtpd.Dir), forwarding = await UserAsync(smtpd.Dir);
        File.WriteAllText(Path.Combine(smtpd.Dir, quiet, ".forward"), "# nothing here\n\n");
        File.WriteAllText(Path.Combine(smtpd.Dir, forwarding, ".forward"), $"{TestUsers.Recipient}, \\{forwarding}\n");
        smtpd.WriteConfig("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{quiet}@localhost", "quiet"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{forwarding}@localhost", "forwarded"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, quiet), 1, Timeout);
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, forwarding), 1, Timeout); // \self keeps a copy
        var root = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Equal("forwarded", MimeMessage.Load(root[0]).Subject);
    }

    [SkippableFact]
    public async Task Mda_command_gets_the_message_and_environment_exit_75_retries_other_codes_fail()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root to create users");
        await using var smtpd = new SmtpdInstance();
        string u1 = await UserAsync(smtpd.Dir);
        string drop = Drop(smtpd);
        File.WriteAllText(Path.Combine(drop, "mode"), "ok");
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "script" mda "read mode < {{drop}}/mode; [ $mode = tempfail ] && exit 75; [ $mode = fail ] && { echo 'no such folder' >&2; exit 67; }; cat > {{drop}}/mda-$USER.txt; echo \"$SENDER $RECIPIENT $EXTENSION $HOME\" > {{drop}}/env-$USER.txt"
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for rcpt-to regex "^{{TestUsers.Recipient}}@" action "local"
            match from local for local action "script"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{u1}+box@localhost", "scripted"));
        await WaitForFileAsync(Path.Combine(drop, $"mda-{u1}.txt"), $"body for {u1}+box@localhost");
        await WaitForFileAsync(Path.Combine(drop, $"env-{u1}.txt"), $"{TestUsers.Recipient}@localhost {u1}+box@localhost box {Path.Combine(smtpd.Dir, u1)}");
        var (_, owner) = await ExternalTool.RunAsync("stat", ["-c", "%U", Path.Combine(drop, $"mda-{u1}.txt")]);
        Assert.Equal(u1, owner.Trim()); // the command ran as the user, not as root

        File.WriteAllText(Path.Combine(drop, "mode"), "tempfail");
        await RcptAsync(smtpd.Port, $"{u1}@localhost", "retried");
        await smtpd.WaitForLogAsync("result=TempFail stat=exited abnormally", Timeout);

        File.WriteAllText(Path.Combine(drop, "mode"), "fail");
        await RcptAsync(smtpd.Port, $"{u1}@localhost", "refused");
        await smtpd.WaitForLogAsync("result=PermFail stat=\"no such folder\"", Timeout);
        var bounce = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("no such folder", await File.ReadAllTextAsync(bounce[0]));
    }

    [Fact]
    public async Task A_message_already_delivered_to_the_recipient_is_not_delivered_again()
    {
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost", "looping", $"Delivered-To: {TestUsers.Recipient}@localhost\r\n");
        await smtpd.WaitForLogAsync("Mail loop detected", Timeout);
        // The loop is bounced to the sender (root), not delivered: the one message in root's
        // mailbox is the report.
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        await Task.Delay(500);
        Assert.Single(Directory.GetFiles(Path.Combine(smtpd.Maildirs, TestUsers.Recipient, "new")));
        Assert.Contains("Delivery status notification: failed", await File.ReadAllTextAsync(files[0]));
    }

    [SkippableFact]
    public async Task Seed_virtual_users_land_in_their_own_home_with_their_uid()
    {
        Skip.IfNot(Environment.UserName == "root", "delivering as another uid needs root");
        await using var smtpd = new SmtpdInstance();
        string vusers = Path.Combine(smtpd.Dir, "vusers");
        Directory.CreateDirectory(vusers);
        File.SetUnixFileMode(vusers, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        // Seed 004 "Deliver to virtual users", with homes under the test directory.
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            table usr { "alice" = "4242:4242:{{vusers}}/alice",
                        "bob" = "4243:4243:{{vusers}}/bob" }
            accept from any for domain "example.org" userbase <usr> deliver to maildir
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "alice@example.org", "for alice"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "bob+lists@example.org", "for bob"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "carol@example.org"));
        var alice = await Mailboxes.WaitForMaildirAsync(Path.Combine(vusers, "alice", "Maildir"), 1, Timeout);
        var bob = await Mailboxes.WaitForMaildirAsync(Path.Combine(vusers, "bob", "Maildir"), 1, Timeout);
        Assert.Equal("4242", (await ExternalTool.RunAsync("stat", ["-c", "%u", alice[0]])).Output.Trim());
        Assert.Equal("4243", (await ExternalTool.RunAsync("stat", ["-c", "%u", bob[0]])).Output.Trim());
    }

    [Fact]
    public async Task A_table_that_cannot_be_read_gives_451_and_mail_is_accepted_when_it_is_back()
    {
        await using var smtpd = new SmtpdInstance("""
            table aliases file:{dir}/aliases
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
            match from local for local action "local"
            """);
        string aliases = Path.Combine(smtpd.Dir, "aliases");
        File.WriteAllText(aliases, $"postmaster: {TestUsers.Recipient}\n");
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "postmaster@localhost", "first"));

        File.Move(aliases, aliases + ".away"); // the disk holding it went away, say
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, "postmaster@localhost"));

        File.Move(aliases + ".away", aliases);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "postmaster@localhost", "second"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);
    }

    // SmtpDialogue --RCPT--> smtpd (as _smtpd) --reads--> :include: file / ~/.forward it may not read: 451, never 5xx
    [SkippableFact]
    public async Task An_include_file_or_forward_that_cannot_be_read_gives_451()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root: the daemon drops to _smtpd, which may not read a root-only file");
        await using var smtpd = new SmtpdInstance("""
            table aliases file:{dir}/aliases
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
            match from local for local action "local"
            """);
        string guarded = await UserAsync(smtpd.Dir);
        string list = Path.Combine(smtpd.Dir, "members.txt");
        File.WriteAllText(list, $"{TestUsers.Recipient}\n");
        File.SetUnixFileMode(list, UnixFileMode.UserRead | UnixFileMode.UserWrite); // root's alone
        File.WriteAllText(Path.Combine(smtpd.Dir, "aliases"), $"members: :include:{list}\n");
        string forward = Path.Combine(smtpd.Dir, guarded, ".forward");
        File.WriteAllText(forward, $"{TestUsers.Recipient}\n");
        File.SetUnixFileMode(forward, UnixFileMode.None); // owned by root: the user may not read it either
        await smtpd.StartAsync();

        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, "members@localhost"));
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, $"{guarded}@localhost"));
        // The session and the daemon carry on: once readable, the same recipients are accepted.
        File.SetUnixFileMode(list, (UnixFileMode)0b110_100_100);
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "members@localhost", "included"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
    }

    // SmtpDialogue --RCPT--> smtpd --asks the privileged helper--> a ~/.forward that is a FIFO, a
    // link to /dev/zero, a directory or a loop of links: 451 for that recipient, at once, and every
    // other recipient served as before
    [SkippableFact]
    public async Task A_forward_that_is_a_fifo_or_an_endless_device_gives_451_and_holds_up_nobody()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root: ~/.forward is read by the privileged helper");
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        string fifoUser = await UserAsync(smtpd.Dir), zeroUser = await UserAsync(smtpd.Dir), plain = await UserAsync(smtpd.Dir);
        string dirUser = await UserAsync(smtpd.Dir), loopUser = await UserAsync(smtpd.Dir);
        Directory.CreateDirectory(Path.Combine(smtpd.Dir, dirUser, ".forward"));
        File.CreateSymbolicLink(Path.Combine(smtpd.Dir, loopUser, ".forward"), Path.Combine(smtpd.Dir, loopUser, ".forward"));
        string fifo = Path.Combine(smtpd.Dir, fifoUser, ".forward");
        var (code, output) = await ExternalTool.RunAsync("mkfifo", [fifo]);
        Assert.True(code == 0, output);
        File.CreateSymbolicLink(Path.Combine(smtpd.Dir, zeroUser, ".forward"), "/dev/zero");
        File.WriteAllText(Path.Combine(smtpd.Dir, plain, ".forward"), $"{TestUsers.Recipient}\n");
        await smtpd.StartAsync();

        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, $"{fifoUser}@localhost"));
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, $"{zeroUser}@localhost"));
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, $"{dirUser}@localhost"));
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, $"{loopUser}@localhost"));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"the refusals took {started.Elapsed}");
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{plain}@localhost", "forwarded"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        await smtpd.WaitForLogAsync("not a regular file", Timeout);
    }

    // Seed 001 (a sink): SmtpDialogue --RCPT anyone@any domain--> smtpd, virtual { "@" => user } --> that user's mbox
    [Fact]
    public async Task Seed_global_catch_all_delivers_mail_for_any_user_of_any_domain()
    {
        await using var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            accept for any virtual { "@" => {{TestUsers.Recipient}} } deliver to mbox
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "alice@example.org", "for alice"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "nobody-at-all@sub.example.net", "for nobody"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "x+tag@localhost", "for x"));
        string mbox = await Mailboxes.WaitForMboxAsync(Path.Combine(smtpd.MailSpool, TestUsers.Recipient), 3, Timeout);
        Assert.Contains("Subject: for alice", mbox);
        Assert.Contains("Subject: for nobody", mbox);
        Assert.Contains("Subject: for x", mbox);
    }

    // Seed "primary domain": SmtpDialogue --RCPT x@example.org--> smtpd, alias <aliases> --> mbox under SMTPD_MAILSPOOL
    [Fact]
    public async Task Seed_primary_domain_expands_aliases_into_the_mbox()
    {
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}

            table aliases file:{dir}/aliases

            accept from any for domain "example.org" \
            		 alias <aliases> deliver to mbox
            accept for local alias <aliases> deliver to mbox
            """);
        File.WriteAllText(Path.Combine(smtpd.Dir, "aliases"), $"postmaster: {TestUsers.Recipient}\nwebmaster: postmaster\n");
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "webmaster@example.org", "through two aliases"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@example.org", "to the user"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "postmaster@localhost", "local postmaster"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "no-such-user-here@example.org"));
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, "postmaster@elsewhere.example"));
        string mbox = await Mailboxes.WaitForMboxAsync(Path.Combine(smtpd.MailSpool, TestUsers.Recipient), 3, Timeout);
        Assert.Contains("Subject: through two aliases", mbox);
        Assert.Contains("Subject: to the user", mbox);
        Assert.Contains("Subject: local postmaster", mbox);
        Assert.Contains("Delivered-To: webmaster@example.org", mbox);
    }
}
