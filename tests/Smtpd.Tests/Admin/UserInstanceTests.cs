using System.Diagnostics;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Admin;

// Issue 18, item 13: the README's quick start as an ordinary user, with no SMTPD_* variables.
// smtpdtest runs `smtpd -d`; its smtpctl and sendmail find that daemon (its socket and its spool
// under ~/.local/state/smtpd) even when a dead system socket sits at /var/run/smtpd.sock:
//   sendmail (smtpdtest) --control socket--> smtpd (smtpdtest) --> maildir        delivered at once
//   sendmail, smtpd down --> ~/.local/state/smtpd/spool/offline/ --> smtpd starts --> maildir
//   a file dropped into offline/ while smtpd runs --> picked up at once --> maildir
// xUnit 2 disposes a test class through IAsyncLifetime (not IAsyncDisposable): the daemon must not outlive the test.
public sealed class UserInstanceTests : IAsyncLifetime
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    const string User = TestUsers.Ordinary;
    readonly string _home = Directory.CreateTempSubdirectory("smtpd-user-home-").FullName;
    readonly string _bin = Directory.CreateTempSubdirectory("smtpd-user-bin-").FullName;
    readonly string _run = Directory.CreateTempSubdirectory("smtpd-user-run-").FullName;
    readonly StringBuilder _log = new();
    Process? _smtpd;

    string StateDir => Path.Combine(_home, ".local", "state", "smtpd");
    string Offline => Path.Combine(StateDir, "spool", "offline");
    string Maildir => Path.Combine(_home, "Maildir");

    static async Task<bool> UsableAsync() =>
        TestUsers.IsRoot && ExternalTool.Exists("setpriv") && ExternalTool.Exists("unshare")
        && (await ExternalTool.RunAsync("id", [User])).Code == 0;

    /// <summary>A home of smtpdtest's own for this test, our binaries where it can run them, a config.</summary>
    async Task PrepareAsync(int port)
    {
        TestBinaries.CopyTo(_bin);
        File.CreateSymbolicLink(Path.Combine(_bin, "sendmail"), "smtpctl");
        File.SetUnixFileMode(_bin, (UnixFileMode)0b111_101_101);
        await File.WriteAllTextAsync(Path.Combine(_home, "smtpd.conf"), $"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{Maildir}"
            match from any for local action "local"
            """);
        Assert.Equal(0, (await ExternalTool.RunAsync("chown", ["-R", $"{User}:", _home])).Code);
        // What the issue's machine had: a system socket nobody listens on, that anyone can see.
        File.SetUnixFileMode(_run, (UnixFileMode)0b111_101_101);
        // (.NET removes the file of a socket it bound when the socket is closed; Python leaves it.)
        Assert.Equal(0, (await ExternalTool.PythonAsync("import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", Path.Combine(_run, "smtpd.sock"))).Code);
        Assert.Equal(0, (await ExternalTool.RunAsync("setpriv", [$"--reuid={User}", $"--regid={User}", "--init-groups", "test", "-S", Path.Combine(_run, "smtpd.sock")])).Code);
    }

    /// <summary>A command as smtpdtest with a clean environment: no SMTPD_*, no XDG_*, its own HOME.</summary>
    string[] AsUser(params string[] command) =>
        ["setpriv", $"--reuid={User}", $"--regid={User}", "--init-groups", "env", "-i", $"HOME={_home}", "PATH=/usr/bin:/bin",
         "DOTNET_ROOT=/usr/share/dotnet", $"DOTNET_CLI_HOME={_home}", .. command];

    /// <summary>smtpctl or sendmail as smtpdtest, in a mount namespace where /run holds the dead system socket.</summary>
    Task<(int Code, string Output)> ClientAsync(string program, string stdin, params string[] args) =>
        ExternalTool.RunAsync("unshare", ["-m", "--propagation", "private", "sh", "-c", $"mount --bind '{_run}' /run && exec \"$@\"", "sh",
            .. AsUser([Path.Combine(_bin, program), .. args])], stdin);

    async Task StartAsync()
    {
        lock (_log) _log.Clear();
        var args = AsUser([.. TestBinaries.Command("smtpd", _bin), "-d", "-f", Path.Combine(_home, "smtpd.conf")]);
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        _smtpd = Process.Start(psi)!;
        _smtpd.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _smtpd.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _smtpd.BeginErrorReadLine();
        _smtpd.BeginOutputReadLine();
        for (var deadline = DateTime.UtcNow + SmtpdInstance.StartTimeout; !Log.Contains("listening on"); await Task.Delay(50))
        {
            if (_smtpd.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException($"smtpd as {User} did not start:\n{Log}");
        }
    }

    string Log { get { lock (_log) return _log.ToString(); } }

    async Task StopAsync()
    {
        if (_smtpd is null || _smtpd.HasExited) return;
        await ExternalTool.RunAsync("kill", ["-TERM", _smtpd.Id.ToString()]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _smtpd.WaitForExitAsync(cts.Token);
    }

    string[] Delivered() => Directory.Exists(Path.Combine(Maildir, "new")) ? Directory.GetFiles(Path.Combine(Maildir, "new")) : [];

    async Task WaitDeliveredAsync(int count, TimeSpan within)
    {
        for (var deadline = DateTime.UtcNow + within; Delivered().Length < count; await Task.Delay(50))
            Assert.True(DateTime.UtcNow < deadline, $"{Delivered().Length} of {count} messages delivered within {within}:\n{Log}");
    }

    [SkippableFact]
    public async Task Quick_start_as_a_normal_user_smtpctl_and_sendmail_find_the_users_daemon()
    {
        Skip.IfNot(await UsableAsync(), $"needs root, setpriv, unshare and the user {User} (tests/install-peers.sh creates it)");
        await PrepareAsync(SmtpdInstance.FreePort());
        await StartAsync();
        Assert.True(File.Exists(Path.Combine(StateDir, "smtpd.sock")), Log);

        var (code, output) = await ClientAsync("smtpctl", "", "show", "queue");
        Assert.True(code == 0, output);
        Assert.DoesNotContain("cannot connect", output);

        // Delivered at once, not left in offline/.
        (code, output) = await ClientAsync("sendmail", "Subject: one\n\nat once\n", $"{User}@localhost");
        Assert.True(code == 0, output);
        await WaitDeliveredAsync(1, TimeSpan.FromSeconds(10));
        Assert.Empty(Directory.GetFiles(Offline));

        // smtpd down: sendmail keeps the mail in the user's offline/, and the next start sends it.
        await StopAsync();
        (code, output) = await ClientAsync("sendmail", "Subject: two\n\nwhile down\n", $"{User}@localhost");
        Assert.True(code == 0, output);
        Assert.Single(Directory.GetFiles(Offline));
        await StartAsync();
        await WaitDeliveredAsync(2, Timeout);
        for (var deadline = DateTime.UtcNow + Timeout; Directory.GetFiles(Offline).Length > 0 && DateTime.UtcNow < deadline;) await Task.Delay(50);
        Assert.Empty(Directory.GetFiles(Offline));
    }

    // A file handed to offline/ while smtpd runs (here written by the user by hand, as sendmail
    // writes it: NAME.tmp then a rename) is enqueued at once, not at the next restart.
    [SkippableFact]
    public async Task A_file_dropped_into_offline_while_smtpd_runs_is_sent_at_once()
    {
        Skip.IfNot(await UsableAsync(), $"needs root, setpriv, unshare and the user {User} (tests/install-peers.sh creates it)");
        await PrepareAsync(SmtpdInstance.FreePort());
        await StartAsync();
        string name = Path.Combine(Offline, $"{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.dropped");
        string script = $"printf '{User}@localhost\\n{User}@localhost\\n\\nSubject: dropped\\n\\nby hand\\n' > '{name}.tmp' && mv '{name}.tmp' '{name}'";
        Assert.Equal(0, (await ExternalTool.RunAsync(AsUser()[0], [.. AsUser("sh", "-c", script).Skip(1)])).Code);
        await WaitDeliveredAsync(1, TimeSpan.FromSeconds(10));
        Assert.Contains("by hand", await File.ReadAllTextAsync(Delivered()[0]));
        for (var deadline = DateTime.UtcNow + Timeout; Directory.GetFiles(Offline).Length > 0 && DateTime.UtcNow < deadline;) await Task.Delay(50);
        Assert.Empty(Directory.GetFiles(Offline));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try { await StopAsync(); } catch (OperationCanceledException) { _smtpd?.Kill(entireProcessTree: true); }
        _smtpd?.Dispose();
        foreach (var d in new[] { _home, _bin, _run })
            try { Directory.Delete(d, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
