using System.Diagnostics;
using System.Net.Http;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter;

/// <summary>
/// A private rspamd (Debian's package): Debian's configuration with our overrides in a temp
/// LOCAL_CONFDIR: workers on free loopback ports, no fuzzy servers, DNS to a given (private)
/// server, statistics and logs in the temp directory. No redis: the modules that need it stay off.
/// </summary>
public sealed class RspamdServer : IAsyncDisposable
{
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(180);
    readonly Process _process;
    readonly string _dir;

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}";
    /// <summary>Where rspamd_proxy listens in milter mode.</summary>
    public int ProxyPort { get; private init; }

    RspamdServer(string dir, int port, Process process)
    {
        _dir = dir;
        Port = port;
        _process = process;
    }

    public static async Task<RspamdServer> StartAsync(string dnsServer)
    {
        FilterPeers.Require("/usr/bin/rspamd", "Debian's rspamd");
        string dir = Directory.CreateTempSubdirectory("rspamd-").FullName;
        int normal = SmtpdInstance.FreePort(), controller = SmtpdInstance.FreePort(), proxy = SmtpdInstance.FreePort();
        string overrides = Directory.CreateDirectory(Path.Combine(dir, "override.d")).FullName;
        string local = Directory.CreateDirectory(Path.Combine(dir, "local.d")).FullName;
        Directory.CreateDirectory(Path.Combine(dir, "db"));
        Directory.CreateDirectory(Path.Combine(dir, "run"));
        File.WriteAllText(Path.Combine(overrides, "worker-normal.inc"), $"bind_socket = \"127.0.0.1:{normal}\";\ncount = 1;\n");
        File.WriteAllText(Path.Combine(overrides, "worker-controller.inc"), $"bind_socket = \"127.0.0.1:{controller}\";\n");
        // The proxy speaks the milter protocol and scans by itself (no upstream worker to find).
        File.WriteAllText(Path.Combine(overrides, "worker-proxy.inc"),
            $"bind_socket = \"127.0.0.1:{proxy}\";\nmilter = yes;\ntimeout = 120s;\ncount = 1;\nupstream \"local\" {{\n  default = yes;\n  self_scan = yes;\n}}\n");
        File.WriteAllText(Path.Combine(overrides, "logging.inc"), $"type = \"file\";\nfilename = \"{dir}/rspamd.log\";\nlevel = \"error\";\n");
        File.WriteAllText(Path.Combine(overrides, "options.inc"), $"dns {{\n  nameserver = [\"{dnsServer}\"];\n  timeout = 1s;\n  retransmits = 1;\n}}\n");
        File.WriteAllText(Path.Combine(overrides, "fuzzy_check.conf"), "enabled = false;\n");
        // Headers for every message, local clients included (ours come from 127.0.0.1).
        File.WriteAllText(Path.Combine(local, "milter_headers.conf"),
            "use = [\"authentication-results\"];\nskip_local = false;\nskip_authenticated = false;\n");

        var psi = new ProcessStartInfo("/usr/bin/rspamd") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-f", "-i", "-c", "/etc/rspamd/rspamd.conf", $"--var=LOCAL_CONFDIR={dir}", $"--var=DBDIR={dir}/db",
            $"--var=RUNDIR={dir}/run", $"--var=LOGDIR={dir}", "-p", $"{dir}/run/rspamd.pid" })
            psi.ArgumentList.Add(a);
        if (Environment.UserName == "root") foreach (var a in new[] { "-u", "root", "-g", "root" }) psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var server = new RspamdServer(dir, normal, process) { ProxyPort = proxy };
        await server.WaitUntilReadyAsync();
        return server;
    }

    /// <summary>rspamd compiles its rules at start (about 20 s on two cores): wait for /ping.</summary>
    async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"rspamd exited with {_process.ExitCode}: {Log}");
            try
            {
                if ((await http.GetStringAsync($"{Url}/ping")).StartsWith("pong", StringComparison.Ordinal)) return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(500);
        }
        throw new TimeoutException($"rspamd did not answer /ping within {StartTimeout}: {Log}");
    }

    public string Log => File.Exists(Path.Combine(_dir, "rspamd.log")) ? File.ReadAllText(Path.Combine(_dir, "rspamd.log")) : "";

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await _process.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
