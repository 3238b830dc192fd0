using System.Diagnostics;

namespace Smtpd.Tests.EndToEnd;

// Path of the mail: swaks → smtpd (started as root, now running as _smtpd) → queue → Mda →
// the privileged helper (root) starts a delivery process as the recipient → maildir, mbox or
// an mda command, written by that process.
public sealed class PrivilegeSeparationTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static string Config(string dir) => $$"""
        listen on 127.0.0.1 port {port}
        action "maildir" maildir "{{dir}}/maildirs/%{user.username}"
        action "mbox" mbox
        action "cmd" mda "id -u > {{dir}}/maildirs/%{user.username}.id; id -G >> {{dir}}/maildirs/%{user.username}.id; cat > /dev/null"
        match from any for domain "mbox.test" action "mbox"
        match from any for domain "cmd.test" action "cmd"
        match from any for local action "maildir"
        """;

    /// <summary>The Uid: line of /proc/PID/status: real, effective, saved and file-system uids.</summary>
    static uint[] Uids(int pid) =>
        File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1..].Select(uint.Parse).ToArray();

    internal static IEnumerable<int> ProcessesWith(string argument) =>
        Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out int pid) ? pid : -1).Where(pid => pid > 0)
            .Where(pid => { try { return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').Contains(argument); } catch (IOException) { return false; } catch (UnauthorizedAccessException) { return false; } });

    [SkippableFact]
    public async Task Started_as_root_the_network_side_runs_as_smtpd_and_deliveries_as_the_recipient()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig(Config(smtpd.Dir));
        await smtpd.StartAsync();
        uint smtpdUid = TestUsers.Uid("_smtpd"), userUid = TestUsers.Uid(TestUsers.Ordinary);

        // The process that accepts connections has given up root for good (all four ids).
        Assert.All(Uids(smtpd.Process.Id), id => Assert.Equal(smtpdUid, id));
        // The queue is the unprivileged daemon's own.
        Assert.Equal(smtpdUid, await OwnerUid(Path.Combine(smtpd.Spool, "queue")));

        string user = TestUsers.Ordinary;
        foreach (var domain in new[] { "localhost", "mbox.test", "cmd.test" })
            Assert.Equal(0, await Swaks(smtpd.Port, $"{user}@{domain}", $"to {domain}"));
        await smtpd.WaitForLogAsync("result=Ok", Timeout, count: 3);

        var maildir = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, user), 1, Timeout);
        Assert.Equal(userUid, await OwnerUid(Assert.Single(maildir)));
        Assert.Equal(userUid, await OwnerUid(Path.Combine(smtpd.MailSpool, user)));
        // The command ran as the user, with the user's groups and nothing of root's.
        var id = File.ReadAllLines(Path.Combine(smtpd.Maildirs, user + ".id"));
        Assert.Equal(userUid.ToString(), id[0]);
        Assert.DoesNotContain("0", id[1].Split(' '));

        // Only the helper, a child of ours, keeps root.
        var helpers = ProcessesWith("--privileged-helper").Where(pid => ParentOf(pid) == smtpd.Process.Id).ToList();
        Assert.Single(helpers);
        Assert.Equal(0u, Uids(helpers[0])[1]);
        // Our delivery processes (the helper's children) stay a while after their work; none is root.
        var workers = ProcessesWith("--delivery-worker").Where(pid => ParentOf(pid) == helpers[0]).ToList();
        Assert.NotEmpty(workers);
        Assert.All(workers, pid => Assert.All(Uids(pid), uid => Assert.Equal(userUid, uid)));
    }

    [SkippableFact]
    public async Task Mail_that_would_be_delivered_as_root_is_refused_not_delivered()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig(Config(smtpd.Dir));
        await smtpd.StartAsync();
        Assert.Equal(0, await Swaks(smtpd.Port, "root@localhost", "for root"));
        await smtpd.WaitForLogAsync("result=PermFail stat=delivery as root is not allowed", Timeout);
        Assert.False(Directory.Exists(Path.Combine(smtpd.Maildirs, "root")));
        // Not one delivery process of ours (another smtpd's on this machine is root for a moment
        // while it starts, before it takes its user's identity: those are not this test's).
        int helper = Assert.Single(ProcessesWith("--privileged-helper"), pid => ParentOf(pid) == smtpd.Process.Id);
        Assert.DoesNotContain(ProcessesWith("--delivery-worker"), pid => ParentOf(pid) == helper);
    }

    [SkippableFact]
    public async Task Without_the_unprivileged_user_root_refuses_to_start()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig(Config(smtpd.Dir));
        var (code, _, stderr) = await SmtpdInstance.RunAsync(
            new Dictionary<string, string> { ["SMTPD_USER"] = "nosuchuser-xyz", ["SMTPD_SPOOL"] = smtpd.Spool, ["SMTPD_SOCKET"] = smtpd.ControlSocket },
            "-d", "-f", smtpd.ConfigPath);
        Assert.NotEqual(0, code);
        Assert.Contains("unknown user nosuchuser-xyz", stderr);
    }

    [SkippableFact]
    public async Task An_action_with_user_delivers_as_that_user()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        // Virtual mail kept by one account (a common "vmail" setup): files are that account's.
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "vmail" maildir "{{smtpd.Dir}}/maildirs/%{dest.user}" user {{TestUsers.Ordinary}}
            match from any for local action "vmail"
            """);
        await smtpd.StartAsync();
        Assert.Equal(0, await Swaks(smtpd.Port, "daemon@localhost", "for daemon, kept by smtpdtest"));
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, "daemon"), 1, Timeout);
        Assert.Equal(TestUsers.Uid(TestUsers.Ordinary), await OwnerUid(Assert.Single(files)));
    }

    /// <summary>The parent's pid, or -1 for a process that has gone meanwhile.</summary>
    internal static int ParentOf(int pid)
    {
        try { return int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("PPid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]); }
        catch (IOException) { return -1; }
    }

    internal static async Task<uint> OwnerUid(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return uint.Parse(output.Trim());
    }

    static async Task<int> Swaks(int port, string to, string body)
    {
        using var p = Process.Start(new ProcessStartInfo("swaks", ["--server", $"127.0.0.1:{port}", "--from", "alice@example.org", "--to", to, "--body", body])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(Timeout);
        await p.WaitForExitAsync(cts.Token);
        return p.ExitCode;
    }
}
