using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;

namespace Smtpd.Tests.SideBySide;

/// <summary>
/// A network and mount namespace where relaying by MX is real: <c>lo</c> only, /etc/resolv.conf
/// naming 127.0.0.1 (bind-mounted), dnsmasq on 127.0.0.1:53 serving <c>far.test MX 10
/// mx.far.test</c> and <c>mx.far.test A 127.0.0.2</c>, and a <see cref="ScriptedPeer"/> on
/// 127.0.0.2:25 recording what each server sends. The servers run inside through
/// <see cref="Pid"/>. (127.0.0.254 is added to lo: OpenSMTPD's resolver ignores a resolv.conf whose
/// only server is 127.0.0.1 when that is the only address it sees.) Small on purpose: the
/// resolver branch's NetworkNamespace can replace it once it lands.
/// </summary>
public sealed partial class MxNamespace : IAsyncDisposable
{
    readonly Process _holder;
    readonly Process _dnsmasq;
    readonly string _dir;

    public int Pid => _holder.Id;
    public ScriptedPeer Mx { get; }

    public static string? Unavailable =>
        !File.Exists("/usr/sbin/dnsmasq") ? "dnsmasq is not installed" : !ExternalTool.Exists("ip") ? "ip (iproute2) is not installed" : null;

    MxNamespace(Process holder, Process dnsmasq, string dir, ScriptedPeer mx) => (_holder, _dnsmasq, _dir, Mx) = (holder, dnsmasq, dir, mx);

    public static async Task<MxNamespace> CreateAsync()
    {
        string dir = Directory.CreateTempSubdirectory("sbs-netns-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        string resolv = Path.Combine(dir, "resolv.conf"), hosts = Path.Combine(dir, "hosts"), conf = Path.Combine(dir, "dnsmasq.conf");
        File.WriteAllText(resolv, "nameserver 127.0.0.1\n");
        File.WriteAllText(hosts, "127.0.0.1 localhost\n");
        File.WriteAllLines(conf, ["port=53", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv", "no-hosts", "log-facility=-",
            "local=/far.test/", "mx-host=far.test,mx.far.test,10", "host-record=mx.far.test,127.0.0.2"]);
        var psi = new ProcessStartInfo("unshare") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--net", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                     "ip link set lo up && ip addr add 127.0.0.254/32 dev lo && mount --bind \"$1\" /etc/resolv.conf && mount --bind \"$2\" /etc/hosts && echo ready && exec cat",
                     "sh", resolv, hosts })
            psi.ArgumentList.Add(a);
        var holder = Process.Start(psi)!;
        var ready = holder.StandardOutput.ReadLineAsync();
        if (await Task.WhenAny(ready, Task.Delay(TimeSpan.FromSeconds(10))) != ready || await ready != "ready")
        {
            if (!holder.HasExited) holder.Kill();
            throw new InvalidOperationException("cannot set up the network namespace: " + await holder.StandardError.ReadToEndAsync());
        }
        var dns = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-t", holder.Id.ToString(CultureInfo.InvariantCulture), "-n", "-m", "--", "/usr/sbin/dnsmasq", "-k", "--pid-file=", "-C", conf, "--user=root" })
            dns.ArgumentList.Add(a);
        var dnsmasq = Process.Start(dns)!;
        dnsmasq.BeginOutputReadLine();
        dnsmasq.BeginErrorReadLine();
        var mx = await InsideAsync(holder.Id, () => new ScriptedPeer("127.0.0.2", 25) { Extensions = ["8BITMIME", "SIZE 10000000", "ENHANCEDSTATUSCODES"] }.Start());
        return new MxNamespace(holder, dnsmasq, dir, mx);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    /// <summary>Runs <paramref name="make"/> on a thread that joined the namespace: the sockets it makes live there.</summary>
    static Task<T> InsideAsync<T>(int pid, Func<T> make)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                using (var ns = File.OpenHandle($"/proc/{pid}/ns/net"))
                    if (setns((int)ns.DangerousGetHandle(), 0x40000000 /* CLONE_NEWNET */) != 0)
                        throw new InvalidOperationException($"setns: errno {Marshal.GetLastPInvokeError()}");
                done.SetResult(make());
            }
            catch (Exception ex) { done.SetException(ex); }
        }) { IsBackground = true };
        thread.Start();
        return done.Task;
    }

    public async ValueTask DisposeAsync()
    {
        await Mx.DisposeAsync();
        foreach (var p in new[] { _dnsmasq, _holder })
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await p.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
            p.Dispose();
        }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
