using System.Diagnostics;
using System.Text.RegularExpressions;
using static Smtpd.Tests.EndToEnd.PrivilegeSeparationTests;

namespace Smtpd.Tests.EndToEnd;

// smtpd (started as root) → privileged helper → delivery process (as the recipient) → mda
// command (/bin/sh -c, as the recipient): each holds only what it is meant to. The helper's
// channel to the daemon stays in the helper, a delivery process has its own socket to the daemon
// and nothing else of the helper's, an mda command has its stdin, stdout and stderr. And the
// helper outlives the stop signals meant for smtpd: it goes when the daemon goes.
public sealed partial class ChildDescriptorTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [GeneratedRegex(@"(\d+) -> (.+)$")]
    private static partial Regex LsLine();

    /// <summary>Descriptor number → what it points to (socket:[inode], pipe:[inode], a path), read from /proc/PID/fd.</summary>
    static Dictionary<int, string> Descriptors(int pid)
    {
        var fds = new Dictionary<int, string>();
        foreach (string entry in Directory.GetFiles($"/proc/{pid}/fd"))
        {
            try { fds[int.Parse(Path.GetFileName(entry))] = new FileInfo(entry).LinkTarget ?? ""; }
            catch (IOException) { } // closed meanwhile
        }
        return fds;
    }

    static string Drop(SmtpdInstance smtpd)
    {
        string drop = Path.Combine(smtpd.Dir, "drop");
        Directory.CreateDirectory(drop);
        File.SetUnixFileMode(drop, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        return drop;
    }

    static async Task DeliverAsync(SmtpdInstance smtpd, int count = 1)
    {
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost",
            $"{TestUsers.Recipient}@localhost", "descriptors", "body"));
        await smtpd.WaitForLogAsync("result=Ok", Timeout, count);
    }

    /// <summary>Running, neither gone nor a zombie waiting for its parent.</summary>
    static bool Alive(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(')')[^1].TrimStart()[0] != 'Z'; }
        catch (IOException) { return false; }
    }

    static async Task WaitUntilGoneAsync(int pid)
    {
        for (var deadline = DateTime.UtcNow + Timeout; Alive(pid) && DateTime.UtcNow < deadline;) await Task.Delay(50);
    }

    static int HelperOf(SmtpdInstance smtpd) =>
        Assert.Single(ProcessesWith("--privileged-helper"), pid => ParentOf(pid) == smtpd.Process.Id);

    [SkippableFact]
    public async Task An_mda_command_holds_only_its_stdin_stdout_and_stderr()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        string listing = Path.Combine(Drop(smtpd), "fds");
        // ls lists its own descriptors: those it was started with, and the one it reads /proc with.
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "script" mda "ls -l /proc/self/fd > {{listing}}"
            match from local for local action "script"
            """);
        await smtpd.StartAsync();
        await DeliverAsync(smtpd);

        var fds = File.ReadAllLines(listing).Select(l => LsLine().Match(l)).Where(m => m.Success)
            .ToDictionary(m => int.Parse(m.Groups[1].Value), m => m.Groups[2].Value);
        var inherited = fds.Where(fd => !fd.Value.StartsWith("/proc/")).Select(fd => fd.Key).Order();
        Assert.True(inherited.SequenceEqual([0, 1, 2]), $"the mda command was started with:\n{File.ReadAllText(listing)}");
    }

    [SkippableFact]
    public async Task A_delivery_process_holds_nothing_of_the_helper_but_stdout_and_stderr()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{{smtpd.Dir}}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        await DeliverAsync(smtpd);

        // The delivery process stays a while after its work (10 s idle): it is there to look at.
        int helper = HelperOf(smtpd);
        int worker = Assert.Single(ProcessesWith("--delivery-worker"), pid => ParentOf(pid) == helper);
        var helperFds = Descriptors(helper);
        var workerFds = Descriptors(worker);
        string[] helperArgs = File.ReadAllText($"/proc/{helper}/cmdline").Split('\0');
        string helperChannel = helperFds[int.Parse(helperArgs[Array.IndexOf(helperArgs, "--privileged-helper") + 1])];
        Assert.StartsWith("socket:", helperChannel);
        Assert.DoesNotContain(helperChannel, workerFds.Values);

        // Sockets and pipes are shared only by inheritance: beyond its stdin, stdout and stderr
        // (and the runtime's copies of them), the process shares none with its parent.
        var standard = new HashSet<string>(Enumerable.Range(0, 3).Where(workerFds.ContainsKey).Select(fd => workerFds[fd]));
        var shared = workerFds.Where(fd => fd.Value.StartsWith("socket:") || fd.Value.StartsWith("pipe:"))
            .Where(fd => !standard.Contains(fd.Value) && helperFds.ContainsValue(fd.Value)).ToList();
        Assert.True(shared.Count == 0, $"the delivery process {worker} shares with the helper: {string.Join(", ", shared.Select(fd => $"{fd.Key} -> {fd.Value}"))}");
    }

    [SkippableFact]
    public async Task The_helper_outlives_stop_signals_and_goes_with_the_daemon()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{{smtpd.Dir}}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        int helper = HelperOf(smtpd);

        // What a ^C to `smtpd -d` or a kill by name sends to every smtpd process.
        foreach (string signal in new[] { "HUP", "INT", "TERM" })
            Assert.Equal(0, (await ExternalTool.RunAsync("kill", ["-" + signal, helper.ToString()])).Code);
        await Task.Delay(500);
        Assert.True(Alive(helper), "the helper died of a stop signal");
        await DeliverAsync(smtpd);
        Assert.DoesNotContain("privileged helper is gone", smtpd.Log);

        await smtpd.StopAsync();
        await WaitUntilGoneAsync(helper);
        Assert.False(Alive(helper), "the helper outlived the daemon");
    }

    [SkippableFact]
    public async Task When_the_helper_is_gone_the_log_says_how_it_ended()
    {
        Skip.IfNot(TestUsers.IsRoot, "privilege separation needs root");
        await using var smtpd = new SmtpdInstance();
        smtpd.WriteConfig($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{{smtpd.Dir}}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        int helper = HelperOf(smtpd);
        Assert.Equal(0, (await ExternalTool.RunAsync("kill", ["-KILL", helper.ToString()])).Code);
        await WaitUntilGoneAsync(helper);

        // The recipient's ~/.forward is asked of the helper: the RCPT fails, temporarily, and says why.
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync($"MAIL FROM:<{TestUsers.Recipient}@localhost>");
        Assert.StartsWith("451", await d.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@localhost>"));
        await smtpd.WaitForLogAsync("the privileged helper is gone (killed by signal 9)", Timeout);
    }
}
