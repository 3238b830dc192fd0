using System.Diagnostics;
using System.Net;

namespace Smtpd.Tests.Mta;

/// <summary>
/// A DNSSEC setup as a DANE-using mail server has it, inside a test's network namespace: NSD
/// (Debian's nsd) serves the test's zones on 127.0.0.53:53, each signed with ldns-signzone
/// unless the test says otherwise, and Unbound, the validating resolver, answers on
/// 127.0.0.1:53 (where the namespace's resolv.conf points) with the signed zones' DS records as
/// its trust anchors, so its AD bit says what a real validator would: set for the signed zones,
/// clear for the unsigned ones.
/// </summary>
public sealed class SignedDns : IAsyncDisposable
{
    /// <summary>One zone: its name and its records in zone-file syntax, relative names allowed.</summary>
    public sealed record Zone(string Name, IReadOnlyList<string> Records, bool Signed = true);

    const string NsdAddress = "127.0.0.53";
    readonly List<Process> _processes = [];
    readonly string _dir;

    /// <summary>A test namespace's resolv.conf: the resolver it runs on 127.0.0.1 (Unbound here; a loopback resolver is the only one whose AD bit smtpd trusts).</summary>
    public const string ResolvConf = "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n";

    public static string? Unavailable =>
        new[] { "/usr/sbin/nsd", "/usr/sbin/unbound", "/usr/bin/ldns-signzone", "/usr/bin/ldns-keygen" }
            .FirstOrDefault(p => !File.Exists(p)) is { } missing ? $"{Path.GetFileName(missing)} is not installed (tests/install-peers.sh: nsd, unbound, ldnsutils)" : null;

    SignedDns(string dir) => _dir = dir;

    public static async Task<SignedDns> StartAsync(NetworkNamespace ns, params Zone[] zones)
    {
        var dns = new SignedDns(Directory.CreateTempSubdirectory("signed-dns-").FullName);
        try
        {
            var anchors = new List<string>();
            foreach (var zone in zones)
            {
                string file = Path.Combine(dns._dir, $"{zone.Name}.zone");
                await File.WriteAllLinesAsync(file, [
                    $"$ORIGIN {zone.Name}.", "$TTL 300",
                    $"@ IN SOA ns.{zone.Name}. admin.{zone.Name}. 1 3600 600 86400 300",
                    $"@ IN NS ns.{zone.Name}.", $"ns IN A {NsdAddress}",
                    .. zone.Records]);
                if (zone.Signed) anchors.Add(await dns.SignAsync(zone.Name, file));
            }
            await File.WriteAllTextAsync(Path.Combine(dns._dir, "nsd.conf"), $"""
                server:
                  ip-address: {NsdAddress}
                  port: 53
                  username: ""
                  chroot: ""
                  zonesdir: "{dns._dir}"
                  database: ""
                  zonelistfile: "{dns._dir}/zone.list"
                  xfrdfile: "{dns._dir}/xfrd.state"
                  pidfile: ""
                  logfile: "{dns._dir}/nsd.log"
                remote-control:
                  control-enable: no
                {string.Concat(zones.Select(z => $"zone:\n  name: {z.Name}\n  zonefile: {z.Name}.zone{(z.Signed ? ".signed" : "")}\n"))}
                """);
            // "test." is one of Unbound's locally served zones: it must go to the stubs instead.
            await File.WriteAllTextAsync(Path.Combine(dns._dir, "unbound.conf"), $"""
                server:
                  interface: 127.0.0.1
                  port: 53
                  username: ""
                  chroot: ""
                  directory: "{dns._dir}"
                  pidfile: ""
                  use-syslog: no
                  logfile: ""
                  do-not-query-localhost: no
                  access-control: 127.0.0.0/8 allow
                  module-config: "validator iterator"
                  local-zone: "test." nodefault
                {string.Concat(anchors.Select(a => $"  trust-anchor: \"{a}\"\n"))}
                {string.Concat(zones.Select(z => $"stub-zone:\n  name: \"{z.Name}\"\n  stub-addr: {NsdAddress}@53\n"))}
                remote-control:
                  control-enable: no
                """);
            dns.Start(ns, "/usr/sbin/nsd", "-d", "-c", Path.Combine(dns._dir, "nsd.conf"));
            await ns.WaitForTcpAsync(new IPEndPoint(IPAddress.Parse(NsdAddress), 53), TimeSpan.FromSeconds(10), () => !dns._processes[0].HasExited);
            dns.Start(ns, "/usr/sbin/unbound", "-d", "-c", Path.Combine(dns._dir, "unbound.conf"));
            await ns.WaitForTcpAsync(new IPEndPoint(IPAddress.Loopback, 53), TimeSpan.FromSeconds(10), () => !dns._processes[1].HasExited);
            return dns;
        }
        catch
        {
            await dns.DisposeAsync();
            throw;
        }
    }

    void Start(NetworkNamespace ns, string program, params string[] args)
    {
        var p = Process.Start(ns.StartInfo(program, args))!;
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        _processes.Add(p);
    }

    /// <summary>Signs the zone with a new key pair (KSK and ZSK); returns its DS record, for the resolver's trust anchor.</summary>
    async Task<string> SignAsync(string name, string file)
    {
        string ksk = (await RunAsync("/usr/bin/ldns-keygen", "-a", "ECDSAP256SHA256", "-k", name)).Trim();
        string zsk = (await RunAsync("/usr/bin/ldns-keygen", "-a", "ECDSAP256SHA256", name)).Trim();
        await RunAsync("/usr/bin/ldns-signzone", file, ksk, zsk);
        return (await File.ReadAllTextAsync(Path.Combine(_dir, $"{ksk}.ds"))).Replace('\t', ' ').Trim();
    }

    async Task<string> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {await stderr}");
        return await stdout;
    }

    public async ValueTask DisposeAsync()
    {
        // nsd forks its server processes: the whole tree goes.
        foreach (var p in _processes)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await p.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
            p.Dispose();
        }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
