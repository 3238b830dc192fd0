using System.Diagnostics;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

/// <summary>
/// The real OpenSMTPD 6.8 (extracted in /opt/opensmtpd, see ../shared/PEERS.md) as a relaying
/// client, for comparing what it does with a peer's certificate: run as root with <c>-d</c> in
/// a mount namespace of its own, the test's directories bind-mounted on its compiled-in spool
/// and /run. The side-by-side suite's OpenSmtpdInstance does the same and more; this is the
/// least a relay test needs.
/// </summary>
public sealed class OpenSmtpdRelayer : IAsyncDisposable
{
    const string Binary = "/opt/opensmtpd/usr/sbin/smtpd";
    readonly StringBuilder _log = new();
    readonly Process _process;

    public static string? Unavailable =>
        !File.Exists(Binary) ? "OpenSMTPD 6.8 is not extracted in /opt/opensmtpd (bench/install-opensmtpd.sh)"
        : !TestUsers.IsRoot ? "OpenSMTPD runs as root in a mount namespace of its own"
        : !ExternalTool.Exists("unshare") || !ExternalTool.Exists("nsenter") ? "unshare/nsenter are missing"
        : null;

    public string Dir { get; } = Directory.CreateTempSubdirectory("opensmtpd-relay-").FullName;
    public int Port { get; } = SmtpdInstance.FreePort();
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <param name="config">smtpd.conf, with {port} for the listener.</param>
    public OpenSmtpdRelayer(string config)
    {
        string spool = Path.Combine(Dir, "spool"), run = Path.Combine(Dir, "run"), conf = Path.Combine(Dir, "smtpd.conf");
        Directory.CreateDirectory(spool);
        Directory.CreateDirectory(run);
        File.SetUnixFileMode(spool, (UnixFileMode)0b111_001_001); // its own spool's mode, which it checks
        File.WriteAllText(conf, config.Replace("{port}", Port.ToString()));
        var psi = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-m", "--propagation", "private", "sh", "-c",
            $"mount --bind '{spool}' /var/spool/smtpd && mount --bind '{run}' /run && exec {Binary} -d -f '{conf}'" })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Log.Contains(text))
        {
            if (_process.HasExited) throw new InvalidOperationException($"OpenSMTPD exited ({_process.ExitCode}):\n{Log}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"'{text}' not seen in OpenSMTPD's log within {timeout}:\n{Log}");
            await Task.Delay(50);
        }
    }

    /// <summary>Its own <c>smtpctl show queue</c>, in its namespace.</summary>
    public async Task<string> ShowQueueAsync()
    {
        var (code, output) = await ExternalTool.RunAsync("nsenter", ["-t", _process.Id.ToString(), "-m", "/opt/opensmtpd/usr/sbin/smtpctl", "show", "queue"], timeoutSeconds: 30);
        Assert.True(code == 0, output);
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await _process.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
        }
        _process.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
