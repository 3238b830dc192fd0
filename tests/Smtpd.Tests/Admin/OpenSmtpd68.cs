using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Admin;

/// <summary>
/// The real OpenSMTPD 6.8 (Debian's, extracted in /opt/opensmtpd), run beside ours for a
/// comparison. Its spool, control socket and mail spool are compiled in, so it runs in a mount
/// namespace of its own with a per-test directory bind-mounted on each (../shared/PEERS.md); it
/// shares the host's loopback, on a free port. smtpctl and sendmail reach it through nsenter.
/// </summary>
public sealed class OpenSmtpd68 : IAsyncDisposable
{
    public const string Prefix = "/opt/opensmtpd";
    static string Binary => Path.Combine(Prefix, "usr/sbin/smtpd");
    static string SmtpctlBinary => Path.Combine(Prefix, "usr/sbin/smtpctl");
    readonly StringBuilder _log = new();
    Process? _process;

    /// <summary>Why it cannot run here, or null.</summary>
    public static string? Unavailable =>
        !File.Exists(Binary) ? "OpenSMTPD 6.8 is not extracted in /opt/opensmtpd (bench/install-opensmtpd.sh)"
        : !TestUsers.IsRoot ? "running OpenSMTPD in a mount namespace needs root"
        : !ExternalTool.Exists("unshare") || !ExternalTool.Exists("nsenter") ? "unshare/nsenter (util-linux) are not installed"
        : null;

    public OpenSmtpd68(string config)
    {
        Dir = Directory.CreateTempSubdirectory("opensmtpd68-").FullName;
        Port = SmtpdInstance.FreePort();
        foreach (var d in new[] { Spool, Run, MailSpool, Maildirs }) Directory.CreateDirectory(d);
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Spool, (UnixFileMode)0b111_001_001);
        File.SetUnixFileMode(MailSpool, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        File.SetUnixFileMode(Maildirs, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        File.WriteAllText(ConfigPath, config.Replace("{port}", Port.ToString()).Replace("{dir}", Dir));
        // sendmail is smtpctl under another name (setgid opensmtpq: a symlink keeps that).
        File.CreateSymbolicLink(Path.Combine(Dir, "sendmail"), SmtpctlBinary);
    }

    public string Dir { get; }
    public int Port { get; }
    public string Spool => Path.Combine(Dir, "spool");
    public string Run => Path.Combine(Dir, "run");
    public string MailSpool => Path.Combine(Dir, "mail");
    public string Maildirs => Path.Combine(Dir, "maildirs");
    public string ConfigPath => Path.Combine(Dir, "smtpd.conf");
    public string Log { get { lock (_log) return _log.ToString(); } }
    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");

    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-m", "--propagation", "private", "bash", "-c",
            $"mount --bind '{Spool}' /var/spool/smtpd && mount --bind '{Run}' /run && mount --bind '{MailSpool}' /var/mail && exec '{Binary}' -d -f '{ConfigPath}'" })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30); ; await Task.Delay(100))
        {
            if (_process.HasExited) throw new InvalidOperationException($"OpenSMTPD exited ({_process.ExitCode}):\n{Log}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"OpenSMTPD did not listen on {Port}:\n{Log}");
            // Its listener is up (seen without connecting: a probe would count as a session) and
            // its control socket, which comes with the control process.
            if (Listening(Port) && File.Exists(Path.Combine(Run, "smtpd.sock"))) break;
        }
    }

    /// <summary>A TCP socket listens on <paramref name="port"/> (state 0A in /proc/net/tcp).</summary>
    static bool Listening(int port) =>
        File.ReadLines("/proc/net/tcp").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Any(f => f[3] == "0A" && f[1].EndsWith($":{port:X4}", StringComparison.Ordinal));

    public async Task WaitForLogAsync(string text, TimeSpan timeout, int count = 1)
    {
        for (var deadline = DateTime.UtcNow + timeout; DateTime.UtcNow < deadline; await Task.Delay(50))
            if (SmtpdInstance.Occurrences(Log, text) >= count) return;
        throw new TimeoutException($"'{text}' x{count} not seen in OpenSMTPD's log within {timeout}:\n{Log}");
    }

    /// <summary>Its smtpctl, inside its mount namespace.</summary>
    public Task<(int Code, string Output)> SmtpctlAsync(params string[] args) =>
        ExternalTool.RunAsync("nsenter", ["-t", Pid.ToString(), "-m", SmtpctlBinary, .. args]);

    /// <summary>Its sendmail, inside its mount namespace, as <paramref name="user"/> (root by default).</summary>
    public Task<(int Code, string Output)> SendmailAsync(string message, string? user, params string[] args) =>
        user is null
            ? ExternalTool.RunAsync("nsenter", ["-t", Pid.ToString(), "-m", Path.Combine(Dir, "sendmail"), .. args], message)
            : ExternalTool.RunAsync("nsenter", ["-t", Pid.ToString(), "-m", "runuser", "-u", user, "--", Path.Combine(Dir, "sendmail"), .. args], message);

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            // SIGTERM to smtpd itself (bash exec'd it); its children follow it out.
            await ExternalTool.RunAsync("kill", ["-TERM", _process.Id.ToString()]);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try { await _process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        }
        _process?.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
