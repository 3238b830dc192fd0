using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Smtpd.Tests.EndToEnd;

/// <summary>
/// A real smtpd process for one test: its own directory (spool, mail spool, control socket,
/// config), a free loopback port, logs captured from stderr. Started with <c>-d</c>; stopped with
/// SIGTERM, or killed with SIGKILL to test crashes.
/// </summary>
public sealed partial class SmtpdInstance : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    readonly StringBuilder _log = new();
    readonly object _lock = new();
    Process? _process;

    /// <param name="port">A port chosen by the test (peers of a relay test share the MX port); default: a free one.</param>
    public SmtpdInstance(string? config = null, string? dir = null, int? port = null)
    {
        Dir = dir ?? Directory.CreateTempSubdirectory("smtpd-test-").FullName;
        Port = port ?? FreePort();
        Directory.CreateDirectory(MailSpool);
        Directory.CreateDirectory(Maildirs);
        // Others (recipients we deliver to as root) must be able to reach their mail under here.
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(MailSpool, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        File.SetUnixFileMode(Maildirs, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        if (config is not null) WriteConfig(config);
    }

    public string Dir { get; }
    public int Port { get; }
    public string Spool => Path.Combine(Dir, "spool");
    public string MailSpool => Path.Combine(Dir, "mail");
    /// <summary>Parent of per-user maildirs in test configs: <c>{dir}/maildirs/%{user.username}</c>.</summary>
    public string Maildirs => Path.Combine(Dir, "maildirs");
    public string ControlSocket => Path.Combine(Dir, "smtpd.sock");
    public string ConfigPath => Path.Combine(Dir, "smtpd.conf");
    public string Log { get { lock (_lock) return _log.ToString(); } }
    public Process Process => _process ?? throw new InvalidOperationException("not started");
    /// <summary>
    /// Extra environment for the daemon (e.g. SMTPD_CERTDIR, SMTPD_TLS_HANDSHAKE_TIMEOUT). By
    /// default the resolver is a DNS server that refuses every query (<see cref="RefusingDns"/>):
    /// relayed mail then fails temporarily and clients not in /etc/hosts have no name, whatever
    /// DNS the machine has. Tests that relay or need names point it at their own DNS.
    /// </summary>
    public Dictionary<string, string> Environment { get; } = new() { ["SMTPD_RESOLVER"] = RefusingDns.Shared.Resolver };

    /// <summary>Writes the configuration, replacing {port} and {dir} (so tests read naturally).</summary>
    public void WriteConfig(string config) =>
        File.WriteAllText(ConfigPath, config.Replace("{port}", Port.ToString()).Replace("{dir}", Dir));

    /// <summary>smtpd with <paramref name="args"/>: the JIT build, or the published one (<see cref="TestBinaries"/>).</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = TestBinaries.StartInfo("smtpd", args);
        psi.RedirectStandardError = psi.RedirectStandardOutput = true;
        return psi;
    }

    /// <summary>Runs smtpd to completion (e.g. <c>-n</c>); returns exit code and output.</summary>
    public static Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) =>
        RunAsync(new Dictionary<string, string>(), args);

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(IDictionary<string, string> env, params string[] args)
    {
        var psi = StartInfo(args);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>A command the daemon is started under, e.g. <c>prlimit --nofile=256:256 --</c> (it must exec smtpd, keeping the pid).</summary>
    public List<string> Wrapper { get; } = [];

    public async Task StartAsync(params string[] extraArgs)
    {
        lock (_lock) _log.Clear();
        var psi = StartInfo(["-d", "-f", ConfigPath, .. extraArgs]);
        if (Wrapper.Count > 0)
        {
            var wrapped = new ProcessStartInfo(Wrapper[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in Wrapper.Skip(1)) wrapped.ArgumentList.Add(a);
            wrapped.ArgumentList.Add(psi.FileName);
            foreach (var a in psi.ArgumentList) wrapped.ArgumentList.Add(a);
            psi = wrapped;
        }
        psi.Environment["SMTPD_SPOOL"] = Spool;
        psi.Environment["SMTPD_SOCKET"] = ControlSocket;
        psi.Environment["SMTPD_MAILSPOOL"] = MailSpool;
        foreach (var (k, v) in Environment) psi.Environment[k] = v;
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _log.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _log.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        await WaitForLogAsync("listening on", StartTimeout);
    }

    /// <summary>Waits (bounded) until the log contains <paramref name="text"/> <paramref name="count"/> times.</summary>
    public async Task WaitForLogAsync(string text, TimeSpan timeout, int count = 1)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Occurrences(Log, text) >= count) return;
            if (_process is { HasExited: true })
            {
                // The no-argument wait also waits until stderr is read to its end: the last lines
                // (the reason it exited) may still be on their way to the log.
                _process.WaitForExit();
                throw new InvalidOperationException($"smtpd exited ({_process.ExitCode}):\n{Log}");
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"'{text}' x{count} not seen in the log within {timeout}:\n{Log}");
    }

    public static int Occurrences(string haystack, string needle)
    {
        int n = 0;
        for (int i = haystack.IndexOf(needle, StringComparison.Ordinal); i >= 0; i = haystack.IndexOf(needle, i + needle.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SysKill(int pid, int sig);

    /// <summary>SIGTERM, then wait (bounded) for a clean exit.</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        SysKill(_process.Id, 15);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { _process.Kill(); throw new TimeoutException("smtpd did not exit on SIGTERM"); }
    }

    /// <summary>SIGKILL: a crash, nothing gets to clean up.</summary>
    public async Task KillAsync()
    {
        if (_process is null || _process.HasExited) return;
        _process.Kill();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(cts.Token);
    }

    static readonly HashSet<int> GivenPorts = [];

    /// <summary>
    /// A port free now, never one given before in this test run: the kernel may hand the same
    /// ephemeral port to two binds in a row once the first is closed (rspamd got one port for two
    /// of its sockets and failed to start).
    /// </summary>
    public static int FreePort()
    {
        for (int attempt = 0; ; attempt++)
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            lock (GivenPorts)
                if (GivenPorts.Add(port) || attempt >= 100) return port;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (TimeoutException) { }
        _process?.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
