using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Smtpd.Tests.Mta;

/// <summary>
/// A fresh network and mount namespace for one test: its only interface is <c>lo</c> (up, so all
/// of 127.0.0.0/8 and ::1 are local and port 25 or 53 on any of them is free), and the test's own
/// /etc/resolv.conf and /etc/hosts are bind-mounted over the system's inside it, so a program run
/// there resolves names exactly as a real mail server whose resolv.conf names a local DNS server
/// would. Programs (smtpd, dnsmasq, smtp-sink, swaks) run inside through <see cref="Enter"/>
/// (nsenter, which execs: the pid stays the program's); the test itself reaches them with
/// <see cref="ConnectAsync"/>, whose socket is made on a thread that joined the namespace.
/// A held process keeps the namespace; it exits when the test closes its stdin or dies.
/// </summary>
public sealed partial class NetworkNamespace : IAsyncDisposable
{
    /// <summary>/etc/hosts of a namespace unless the test gives one: localhost only, on both families.</summary>
    public const string LocalhostOnly = "127.0.0.1 localhost\n::1 localhost\n";

    readonly Process _holder;
    readonly string _dir;

    NetworkNamespace(Process holder, string dir)
    {
        _holder = holder;
        _dir = dir;
    }

    /// <summary>The pid whose namespaces <see cref="Enter"/> joins.</summary>
    public int Pid => _holder.Id;
    /// <summary>The resolv.conf and hosts files mounted inside: rewrite them to change what programs there see.</summary>
    public string ResolvConf => Path.Combine(_dir, "resolv.conf");
    public string Hosts => Path.Combine(_dir, "hosts");

    /// <summary>The command that runs a program inside: append the program and its arguments.</summary>
    public IReadOnlyList<string> Enter => ["nsenter", $"--target={Pid}", "--net", "--mount", "--"];

    static readonly Lazy<string?> Why = new(Probe);

    /// <summary>Null when namespaces can be made here; else why not (for Skip).</summary>
    public static string? Unavailable => Why.Value;

    static string? Probe()
    {
        if (Environment.UserName != "root") return "network namespaces need root";
        foreach (var tool in new[] { "/usr/bin/unshare", "/usr/bin/nsenter", "/usr/sbin/ip", "/usr/bin/mount" })
            if (!File.Exists(tool) && !File.Exists("/bin/" + Path.GetFileName(tool)) && !File.Exists("/sbin/" + Path.GetFileName(tool)))
                return $"{Path.GetFileName(tool)} is not installed";
        try
        {
            using var p = Process.Start(new ProcessStartInfo("unshare", ["--net", "--mount", "--propagation", "private", "--", "ip", "link", "set", "lo", "up"])
                { RedirectStandardError = true, RedirectStandardOutput = true })!;
            string err = p.StandardError.ReadToEnd();
            if (!p.WaitForExit(10_000)) { p.Kill(); return "unshare did not finish"; }
            return p.ExitCode == 0 ? null : $"unshare --net --mount failed: {err.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception ex) { return $"unshare: {ex.Message}"; }
    }

    /// <param name="resolvConf">The namespace's /etc/resolv.conf, e.g. "nameserver 127.0.0.1\n".</param>
    /// <param name="hosts">Its /etc/hosts.</param>
    public static async Task<NetworkNamespace> CreateAsync(string resolvConf, string hosts = LocalhostOnly)
    {
        string dir = Directory.CreateTempSubdirectory("netns-").FullName;
        // Read through the mount by anyone, the daemon's unprivileged user included.
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        string resolv = Path.Combine(dir, "resolv.conf"), hostsFile = Path.Combine(dir, "hosts");
        await File.WriteAllTextAsync(resolv, resolvConf);
        await File.WriteAllTextAsync(hostsFile, hosts);
        File.SetUnixFileMode(resolv, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(hostsFile, (UnixFileMode)0b110_100_100);

        // unshare execs sh, which execs cat: one pid holds the namespaces until its stdin closes.
        var psi = new ProcessStartInfo("unshare")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "--net", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                     "ip link set lo up && mount --bind \"$1\" /etc/resolv.conf && mount --bind \"$2\" /etc/hosts && echo ready && exec cat",
                     "sh", resolv, hostsFile })
            psi.ArgumentList.Add(a);
        var holder = Process.Start(psi)!;
        var ready = holder.StandardOutput.ReadLineAsync();
        if (await Task.WhenAny(ready, Task.Delay(TimeSpan.FromSeconds(10))) != ready || await ready != "ready")
        {
            string err = holder.HasExited ? await holder.StandardError.ReadToEndAsync() : "no answer within 10 s";
            if (!holder.HasExited) holder.Kill();
            throw new InvalidOperationException($"cannot set up the network namespace: {err}");
        }
        return new NetworkNamespace(holder, dir);
    }

    /// <summary>A process start for <paramref name="program"/> inside the namespace, output redirected.</summary>
    public ProcessStartInfo StartInfo(string program, params IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Enter[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in Enter.Skip(1)) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(program);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Runs a program inside to completion (bounded by <paramref name="timeout"/>).</summary>
    public async Task<(int Code, string Stdout, string Stderr)> RunAsync(string program, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        using var p = Process.Start(StartInfo(program, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{program} did not finish in the namespace"); }
        return (p.ExitCode, await stdout, await stderr);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
    const int CloneNewNet = 0x40000000;

    /// <summary>
    /// Runs <paramref name="make"/> on a thread that joined the namespace: sockets it makes belong
    /// to the namespace (e.g. a UDP socket on 127.0.0.1:53 that takes queries and answers none).
    /// </summary>
    public Task<T> InsideAsync<T>(Func<T> make)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                using (var ns = File.OpenHandle($"/proc/{Pid}/ns/net"))
                    if (setns((int)ns.DangerousGetHandle(), CloneNewNet) != 0)
                        throw new InvalidOperationException($"setns: errno {Marshal.GetLastPInvokeError()}");
                done.SetResult(make());
            }
            catch (Exception ex) { done.SetException(ex); }
        }) { IsBackground = true, Name = "netns" };
        thread.Start();
        return done.Task;
    }

    /// <summary>
    /// A TCP connection to <paramref name="to"/> inside the namespace, from <paramref name="from"/>
    /// (e.g. 127.0.0.5 to look like another client). A socket belongs to the namespace it was made
    /// in: it is made and connected on a thread of its own that joined the namespace (network
    /// namespaces are per thread), and is then used from anywhere.
    /// </summary>
    public Task<TcpClient> ConnectAsync(IPEndPoint to, IPAddress? from = null) => InsideAsync(() =>
    {
        var client = new TcpClient(to.AddressFamily);
        try
        {
            if (from is not null) client.Client.Bind(new IPEndPoint(from, 0));
            var connect = client.Client.BeginConnect(to, null, null);
            if (!connect.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10))) throw new TimeoutException($"connect to {to} in the namespace");
            client.Client.EndConnect(connect);
            return client;
        }
        catch { client.Dispose(); throw; }
    });

    /// <summary>Waits (bounded) until something accepts TCP connections on <paramref name="at"/> inside.</summary>
    public async Task WaitForTcpAsync(IPEndPoint at, TimeSpan timeout, Func<bool>? stillRunning = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try { using var c = await ConnectAsync(at); return; }
            catch (SocketException) when (DateTime.UtcNow < deadline && (stillRunning?.Invoke() ?? true)) { await Task.Delay(50); }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Closing cat's stdin ends the holder; programs still inside keep the namespace until they exit.
        try { _holder.StandardInput.Close(); } catch (IOException) { }
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try { await _holder.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { _holder.Kill(); }
        }
        _holder.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
