using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.SideBySide;

/// <summary>
/// The real OpenSMTPD 6.8 (Debian's, extracted in /opt/opensmtpd) for one scenario, run as root in
/// a mount namespace of its own where the test's directories hide its compiled-in paths:
/// <c>{dir}/spool</c> on /var/spool/smtpd, <c>{dir}/run</c> on /run (its smtpd.sock) and
/// <c>{dir}/mail</c> on /var/mail. Its smtpctl, sendmail and makemap are reached in that namespace
/// with nsenter. Started with <c>-d</c> (log on stderr, captured); stopped with SIGTERM, then
/// SIGKILL on the whole tree if it does not exit in time.
/// </summary>
public sealed partial class OpenSmtpdInstance : ISideServer
{
    public const string Prefix = "/opt/opensmtpd";
    public const string Binary = Prefix + "/usr/sbin/smtpd";
    public const string Smtpctl = Prefix + "/usr/sbin/smtpctl";
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Why the side-by-side suite cannot run here, or null when it can.</summary>
    public static string? Unavailable =>
        !File.Exists(Binary) ? $"OpenSMTPD 6.8 is not extracted in {Prefix} (bench/install-opensmtpd.sh)"
        : !Directory.Exists("/usr/libexec/opensmtpd") ? "/usr/libexec/opensmtpd (OpenSMTPD's helper path) is missing"
        : !TestUsers.IsRoot ? "OpenSMTPD runs as root in its own mount namespace: the suite needs root"
        : !ExternalTool.Exists("unshare") || !ExternalTool.Exists("nsenter") ? "unshare/nsenter (util-linux) are missing"
        : null;

    readonly StringBuilder _log = new();
    readonly object _lock = new();
    Process? _process;

    public OpenSmtpdInstance(string config, int? port = null)
    {
        Dir = Directory.CreateTempSubdirectory("opensmtpd-test-").FullName;
        Port = port ?? SmtpdInstance.FreePort();
        foreach (var d in new[] { Spool, Run, MailSpool, Maildirs }) Directory.CreateDirectory(d);
        // As SmtpdInstance's: recipients must reach their mail under here; the spool is OpenSMTPD's own (0711).
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Spool, (UnixFileMode)0b111_001_001);
        File.SetUnixFileMode(MailSpool, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        File.SetUnixFileMode(Maildirs, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        WriteConfig(config);
    }

    public string Name => "theirs";
    public string Dir { get; }
    public int Port { get; }
    public string Spool => Path.Combine(Dir, "spool");
    public string Run => Path.Combine(Dir, "run");
    public string MailSpool => Path.Combine(Dir, "mail");
    public string Maildirs => Path.Combine(Dir, "maildirs");
    public string ConfigPath => Path.Combine(Dir, "smtpd.conf");
    public string Log { get { lock (_lock) return _log.ToString(); } }
    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");
    /// <summary>Run inside the network (and mount) namespace this process holds, e.g. one with its own DNS server; null: the test's.</summary>
    public int? NetworkNamespacePid { get; set; }

    /// <summary>Writes the configuration, replacing {port} and {dir} as <see cref="SmtpdInstance"/> does.</summary>
    public void WriteConfig(string config) =>
        File.WriteAllText(ConfigPath, config.Replace("{port}", Port.ToString(CultureInfo.InvariantCulture)).Replace("{dir}", Dir));

    public async Task StartAsync()
    {
        if (Unavailable is { } why) throw new InvalidOperationException(why);
        lock (_lock) _log.Clear();
        // unshare and sh exec into smtpd: the pid we hold is smtpd's parent process, and nsenter
        // reaches the namespace through it.
        string script = $"mount --bind '{Spool}' /var/spool/smtpd && mount --bind '{Run}' /run && " +
                        $"mount --bind '{MailSpool}' /var/mail && exec '{Binary}' -d -f '{ConfigPath}'";
        var psi = new ProcessStartInfo(NetworkNamespacePid is null ? "unshare" : "nsenter") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        // In a test's network namespace, its mount namespace (its resolv.conf) is the one copied.
        string[] enter = NetworkNamespacePid is { } ns ? ["-t", ns.ToString(CultureInfo.InvariantCulture), "-n", "-m", "--", "unshare"] : [];
        foreach (var a in enter.Concat(["-m", "--propagation", "private", "sh", "-c", script])) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _log.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _log.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        // Ready once its port listens and its control socket exists; nothing connects to find out,
        // so no probe shows in its log or its statistics.
        var deadline = DateTime.UtcNow + StartTimeout;
        while (!(IsListening(Port) && File.Exists(Path.Combine(Run, "smtpd.sock"))))
        {
            if (_process.HasExited) throw new InvalidOperationException($"OpenSMTPD exited ({_process.ExitCode}):\n{Log}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"OpenSMTPD did not listen on {Port} within {StartTimeout}:\n{Log}");
            await Task.Delay(50);
        }
    }

    /// <summary>True when the server's own /proc/PID/net/tcp (its network namespace) shows a socket listening on 127.0.0.1:<paramref name="port"/>.</summary>
    bool IsListening(int port)
    {
        string local = $"0100007F:{port:X4}";
        return File.ReadLines($"/proc/{Pid}/net/tcp").Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Any(f => f.Length > 3 && f[1] == local && f[3] == "0A");
    }

    public async Task WaitForLogAsync(string text, TimeSpan timeout, int count = 1)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (SmtpdInstance.Occurrences(Log, text) >= count) return;
            if (_process is { HasExited: true }) throw new InvalidOperationException($"OpenSMTPD exited ({_process.ExitCode}):\n{Log}");
            await Task.Delay(50);
        }
        throw new TimeoutException($"'{text}' x{count} not seen in OpenSMTPD's log within {timeout}:\n{Log}");
    }

    /// <summary>Runs OpenSMTPD's smtpctl under <paramref name="name"/> (smtpctl, sendmail, mailq, makemap) in its namespace.</summary>
    public async Task<(int Code, string Output)> CtlAsync(string name, string stdin, params string[] args)
    {
        string program = Path.Combine(Prefix, "usr/sbin", name);
        if (!File.Exists(program)) program = Smtpctl;
        return await ExternalTool.RunAsync("nsenter", ["-t", Pid.ToString(CultureInfo.InvariantCulture), "-m", program, .. args], stdin, timeoutSeconds: 30);
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SysKill(int pid, int sig);

    /// <summary>SIGTERM, then a bounded wait; a server that does not exit is killed with its children.</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        SysKill(_process.Id, 15);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
