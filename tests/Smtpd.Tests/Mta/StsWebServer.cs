using System.Diagnostics;
using System.Net;

namespace Smtpd.Tests.Mta;

/// <summary>
/// Debian's nginx serving MTA-STS policies over HTTPS inside a test's network namespace, on
/// 443 of one address: one virtual host <c>mta-sts.DOMAIN</c> per policy, each with its own
/// certificate (chosen by SNI) and <c>/.well-known/mta-sts.txt</c> as text/plain.
/// </summary>
public sealed class StsWebServer : IAsyncDisposable
{
    readonly string _dir;
    readonly NetworkNamespace _ns;
    readonly string _address;
    Process? _process;

    public static string? Unavailable => File.Exists("/usr/sbin/nginx") ? null : "nginx is not installed (tests/install-peers.sh: nginx-light)";

    StsWebServer(string dir, NetworkNamespace ns, string address)
    {
        _dir = dir;
        _ns = ns;
        _address = address;
    }

    /// <param name="sites">Per domain: the policy text and the certificate of mta-sts.DOMAIN.</param>
    public static async Task<StsWebServer> StartAsync(NetworkNamespace ns, string address, params (string Domain, string Policy, (string Cert, string Key) Files)[] sites)
    {
        var web = new StsWebServer(Directory.CreateTempSubdirectory("sts-web-").FullName, ns, address);
        var servers = new List<string>();
        foreach (var (domain, policy, files) in sites)
        {
            string root = Path.Combine(web._dir, domain, ".well-known");
            Directory.CreateDirectory(root);
            await File.WriteAllTextAsync(Path.Combine(root, "mta-sts.txt"), policy);
            servers.Add($$"""
                server {
                  listen {{address}}:443 ssl;
                  server_name mta-sts.{{domain}};
                  ssl_certificate {{files.Cert}};
                  ssl_certificate_key {{files.Key}};
                  root {{Path.Combine(web._dir, domain)}};
                  types { text/plain txt; }
                }
                """);
        }
        // Runs as root in the foreground, with every path of its own in the test's directory.
        await File.WriteAllTextAsync(Path.Combine(web._dir, "nginx.conf"), $$"""
            daemon off;
            master_process off;
            user root;
            pid {{web._dir}}/nginx.pid;
            error_log stderr;
            events { worker_connections 64; }
            http {
              access_log off;
              client_body_temp_path {{web._dir}}/body;
              proxy_temp_path {{web._dir}}/proxy;
              fastcgi_temp_path {{web._dir}}/fastcgi;
              uwsgi_temp_path {{web._dir}}/uwsgi;
              scgi_temp_path {{web._dir}}/scgi;
            {{string.Join("\n", servers)}}
            }
            """);
        await web.StartAsync();
        return web;
    }

    public async Task StartAsync()
    {
        _process = Process.Start(_ns.StartInfo("/usr/sbin/nginx", "-p", _dir, "-c", Path.Combine(_dir, "nginx.conf")))!;
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var process = _process;
        await _ns.WaitForTcpAsync(new IPEndPoint(IPAddress.Parse(_address), 443), TimeSpan.FromSeconds(10), () => !process.HasExited);
    }

    /// <summary>Stops the web server (a policy must then come from the cache).</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _process.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
        _process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
