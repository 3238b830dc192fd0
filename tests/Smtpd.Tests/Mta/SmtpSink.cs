using System.Diagnostics;
using System.Text;

namespace Smtpd.Tests.Mta;

/// <summary>
/// Postfix's smtp-sink as a receiving peer: it accepts everything, dumps each message to a
/// file and counts sessions and messages ("sess=N quit=N mesg=N" on its output).
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    public const string Program = "/usr/sbin/smtp-sink";
    readonly Process _process;
    readonly StringBuilder _output = new();

    public static bool Available => File.Exists(Program);
    public string DumpDir { get; } = Directory.CreateTempSubdirectory("smtp-sink-").FullName;

    /// <param name="ns">Run inside this network namespace (e.g. as an MX host on 127.0.0.2:25).</param>
    public SmtpSink(string address, int port, NetworkNamespace? ns = null)
    {
        string[] args = ["-u", Environment.UserName, "-c", "-d", Path.Combine(DumpDir, "%M."), $"{address}:{port}", "100"];
        var psi = ns?.StartInfo(Program, args) ?? new ProcessStartInfo(Program, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Append(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Append(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (ns is not null) { using var inside = ns.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(address), port)).GetAwaiter().GetResult(); return; }
                using var c = new System.Net.Sockets.TcpClient(address, port);
                return;
            }
            catch (System.Net.Sockets.SocketException) { Thread.Sleep(50); }
        }
        throw new TimeoutException("smtp-sink did not start");
    }

    public string[] Messages => Directory.GetFiles(DumpDir);

    /// <summary>Sessions smtp-sink has counted so far (its "sess=" counter, printed as it changes).</summary>
    public int Sessions
    {
        get
        {
            string text;
            lock (_output) text = _output.ToString();
            int at = text.LastIndexOf("sess=", StringComparison.Ordinal);
            return at < 0 ? 0 : int.Parse(new string(text[(at + 5)..].TakeWhile(char.IsAsciiDigit).ToArray()));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        Directory.Delete(DumpDir, recursive: true);
    }
}
