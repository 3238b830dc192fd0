using System.Diagnostics;
using System.Net.Sockets;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Table;

/// <summary>A private PostgreSQL (Debian's postgresql) in a temporary directory on a free loopback port.</summary>
public sealed class PostgresServer : IAsyncDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("pg-").FullName;
    Process? _process;

    public int Port { get; } = SmtpdInstance.FreePort();
    public static string? BinDir => Directory.Exists("/usr/lib/postgresql")
        ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")))
        : null;
    public static bool Available => BinDir is not null && Environment.UserName == "root";
    public string ConnInfo => $"host=127.0.0.1 port={Port} dbname=postgres username=postgres";

    public async Task InitAsync()
    {
        await ExternalTool.RunAsync("chown", ["postgres:postgres", _dir]);
        var (code, output) = await ExternalTool.RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(BinDir!, "initdb"),
            "-D", Path.Combine(_dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync"], timeoutSeconds: 120);
        if (code != 0) throw new InvalidOperationException($"initdb failed: {output}");
        await StartAsync();
    }

    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-u", "postgres", "--", Path.Combine(BinDir!, "postgres"), "-D", Path.Combine(_dir, "data"),
            "-p", Port.ToString(), "-k", _dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off" })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try { using var c = new TcpClient("127.0.0.1", Port); await Task.Delay(300); return; }
            catch (SocketException) { await Task.Delay(100); }
        }
        throw new TimeoutException("postgres did not start");
    }

    bool _paused;

    /// <summary>
    /// SIGSTOP to the postmaster and its children (the backends of open connections): the kernel
    /// still accepts connections, nothing answers (a hung server, as a client sees it).
    /// </summary>
    public async Task PauseAsync()
    {
        await SignalServerAsync("-STOP");
        _paused = true;
    }

    public async Task ResumeAsync()
    {
        if (!_paused) return;
        await SignalServerAsync("-CONT");
        // runuser stops itself when its child stops (job control, as su does): it goes on too.
        if (_process is { HasExited: false }) await ExternalTool.RunAsync("kill", ["-CONT", _process.Id.ToString()]);
        _paused = false;
    }

    async Task SignalServerAsync(string signal)
    {
        string pidFile = Path.Combine(_dir, "data", "postmaster.pid");
        if (!File.Exists(pidFile)) return;
        string postmaster = File.ReadLines(pidFile).First().Trim();
        var pids = new List<string> { postmaster };
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            string pid = Path.GetFileName(dir);
            if (!pid.All(char.IsAsciiDigit)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // Fields after the command's closing parenthesis: state, ppid, …
                if (stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1] == postmaster) pids.Add(pid);
            }
            catch (IOException) { } // gone meanwhile
        }
        await ExternalTool.RunAsync("kill", [signal, .. pids]);
    }

    /// <summary>Stops the server (SIGINT: fast shutdown).</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        await ResumeAsync();
        string pidFile = Path.Combine(_dir, "data", "postmaster.pid");
        if (File.Exists(pidFile)) await ExternalTool.RunAsync("kill", ["-INT", File.ReadLines(pidFile).First().Trim()]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
