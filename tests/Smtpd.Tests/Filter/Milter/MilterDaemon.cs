using System.Diagnostics;
using System.Net.Sockets;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter.Milter;

/// <summary>
/// A real milter from Debian (opendkim, opendmarc, clamav-milter...) run in the foreground for one
/// test, in a temporary directory, on a free loopback port; stopped (its process tree) on dispose.
/// A missing program skips the test and says why.
/// </summary>
public sealed class MilterDaemon : IAsyncDisposable
{
    readonly Process _process;
    readonly System.Text.StringBuilder _output = new();

    MilterDaemon(Process process, string dir, int port)
    {
        _process = process;
        Dir = dir;
        Port = port;
    }

    public string Dir { get; }
    public int Port { get; }
    public string Address => $"inet:127.0.0.1:{Port}";
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Skips the test unless <paramref name="path"/> exists (tests/install-peers.sh installs it).</summary>
    public static void Require(string path, string package) =>
        Skip.IfNot(File.Exists(path), $"{path} is missing (Debian's {package}; tests/install-peers.sh installs it)");

    /// <summary>Starts <paramref name="program"/> with the arguments <paramref name="args"/> makes of (directory, port) and waits until the port accepts connections.</summary>
    /// <param name="ns">Run it inside this network namespace (its own resolv.conf).</param>
    public static async Task<MilterDaemon> StartAsync(string program, Func<string, int, string[]> args, TimeSpan? startTimeout = null, Mta.NetworkNamespace? ns = null)
    {
        string dir = Directory.CreateTempSubdirectory("milter-").FullName;
        int port = SmtpdInstance.FreePort();
        var psi = ns?.StartInfo(program, args(dir, port)) ?? new ProcessStartInfo(program, args(dir, port)) { RedirectStandardError = true, RedirectStandardOutput = true };
        var daemon = new MilterDaemon(Process.Start(psi)!, dir, port);
        daemon._process.OutputDataReceived += (_, e) => { if (e.Data is { } l) lock (daemon._output) daemon._output.AppendLine(l); };
        daemon._process.ErrorDataReceived += (_, e) => { if (e.Data is { } l) lock (daemon._output) daemon._output.AppendLine(l); };
        daemon._process.BeginErrorReadLine();
        daemon._process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow + (startTimeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if (daemon._process.HasExited) throw new InvalidOperationException($"{program} exited with {daemon._process.ExitCode}: {daemon.Output}");
            try
            {
                using var c = ns is null ? new TcpClient() : await ns.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
                if (ns is null) await c.ConnectAsync("127.0.0.1", port);
                return daemon;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline) { await Task.Delay(100); }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await _process.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
        _process.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
