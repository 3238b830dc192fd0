using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

/// <summary>
/// A real DNS server for relay tests: Debian's dnsmasq on a free loopback port, serving only
/// the records the test gives (no upstream, authoritative NXDOMAIN for the listed zones).
/// </summary>
public sealed class Dnsmasq : IAsyncDisposable
{
    readonly Process _process;
    readonly string _dir;
    readonly NetworkNamespace? _ns;

    public int Port { get; }
    /// <summary>What smtpd's SMTPD_RESOLVER should say.</summary>
    public string Resolver => $"127.0.0.1:{Port}";

    public static bool Available => File.Exists("/usr/sbin/dnsmasq");

    /// <param name="records">dnsmasq lines, e.g. "mx-host=example.net,mx1.example.net,10", "host-record=mx1.example.net,127.0.0.3".</param>
    /// <param name="ns">Run inside this network namespace, on 127.0.0.1:53: the server its resolv.conf names.</param>
    public Dnsmasq(IEnumerable<string> zones, IEnumerable<string> records, NetworkNamespace? ns = null)
    {
        _dir = Directory.CreateTempSubdirectory("dnsmasq-").FullName;
        _ns = ns;
        Port = ns is null ? FreeUdpAndTcpPort() : 53;
        string conf = Path.Combine(_dir, "dnsmasq.conf");
        File.WriteAllLines(conf, [
            $"port={Port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv", "no-hosts", "log-facility=-",
            .. zones.Select(z => $"local=/{z}/"),
            .. records,
        ]);
        string[] args = ["-k", "--pid-file=", "-C", conf];
        var psi = ns?.StartInfo("/usr/sbin/dnsmasq", args) ?? new ProcessStartInfo("/usr/sbin/dnsmasq", args) { RedirectStandardError = true, RedirectStandardOutput = true };
        if (Environment.UserName == "root") psi.ArgumentList.Add("--user=root");
        _process = Process.Start(psi)!;
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        WaitUntilListening();
    }

    void WaitUntilListening()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"dnsmasq exited with {_process.ExitCode}");
            try
            {
                if (_ns is not null) { using var inside = _ns.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port)).GetAwaiter().GetResult(); return; }
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) { Thread.Sleep(50); }
        }
        throw new TimeoutException("dnsmasq did not start");
    }

    static int FreeUdpAndTcpPort()
    {
        for (int i = 0; i < 50; i++)
        {
            int port = SmtpdInstance.FreePort();
            try
            {
                using var u = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) { }
        }
        throw new InvalidOperationException("no free port");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
