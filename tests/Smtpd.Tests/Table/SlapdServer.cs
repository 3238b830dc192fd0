using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Table;

/// <summary>
/// A private OpenLDAP server (Debian's slapd) in a temporary directory: its own slapd.conf (mdb
/// database, suffix dc=example,dc=org, rootdn cn=admin,dc=example,dc=org), on a free loopback
/// port. Entries are loaded with ldapadd (ldap-utils), so the directory is written by a client
/// other than ours. Anonymous clients see nothing, so a lookup that lost its bind cannot pass
/// for one that worked. The data stays in the directory across StopAsync/StartAsync.
/// </summary>
public sealed class SlapdServer : IAsyncDisposable
{
    public const string Slapd = "/usr/sbin/slapd";
    public const string Suffix = "dc=example,dc=org";
    public const string RootDn = "cn=admin,dc=example,dc=org";
    public const string RootPassword = "ldap-test-secret";
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    readonly string _dir = Directory.CreateTempSubdirectory("slapd-").FullName;
    readonly StringBuilder _output = new();
    Process? _process;
    bool _paused;

    public int Port { get; } = SmtpdInstance.FreePort();
    public string Url => $"ldap://127.0.0.1:{Port}";
    public static bool Available => File.Exists(Slapd) && File.Exists("/usr/lib/ldap/back_mdb.la") && ExternalTool.Exists("ldapadd");

    /// <summary>
    /// Skips the test when slapd is missing, except in CI (CI=true), whose .ci/run installs it:
    /// there a missing slapd fails the test instead of letting it pass unseen.
    /// </summary>
    public static void SkipUnlessAvailable()
    {
        if (Available) return;
        const string why = "slapd and ldap-utils are not installed (Debian's slapd, ldap-utils)";
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail(why + ", but CI's .ci/run should have installed them");
        Skip.If(true, why);
    }

    /// <summary>Writes slapd.conf, starts the server and creates the suffix entry.</summary>
    public async Task InitAsync()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "data"));
        File.WriteAllText(Path.Combine(_dir, "slapd.conf"), $"""
            include /etc/ldap/schema/core.schema
            include /etc/ldap/schema/cosine.schema
            include /etc/ldap/schema/nis.schema
            include /etc/ldap/schema/inetorgperson.schema
            include /etc/ldap/schema/misc.schema
            pidfile {_dir}/slapd.pid
            argsfile {_dir}/slapd.args
            modulepath /usr/lib/ldap
            moduleload back_mdb
            database mdb
            maxsize 10485760
            suffix "{Suffix}"
            rootdn "{RootDn}"
            rootpw {RootPassword}
            directory {_dir}/data
            # Only the rootdn (the tables bind as it) reads anything: an anonymous search finds nothing.
            access to * by * none
            """);
        await StartAsync();
        await AddAsync($"""
            dn: {Suffix}
            objectClass: dcObject
            objectClass: organization
            dc: example
            o: Example
            """);
    }

    /// <summary>Adds entries (LDIF, entries separated by blank lines) as the rootdn, with ldapadd.</summary>
    public async Task AddAsync(string ldif)
    {
        var (code, output) = await ExternalTool.RunAsync("ldapadd", ["-x", "-H", Url, "-D", RootDn, "-w", RootPassword], stdin: ldif + "\n", timeoutSeconds: 30);
        if (code != 0) throw new InvalidOperationException($"ldapadd failed ({code}): {output}");
    }

    public async Task StartAsync()
    {
        // -d 0: stay in the foreground (no debug output), so the test owns the process.
        var psi = new ProcessStartInfo(Slapd) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-f", Path.Combine(_dir, "slapd.conf"), "-h", Url + "/", "-d", "0" })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) break;
            try { using var c = new TcpClient("127.0.0.1", Port); return; }
            catch (SocketException) { await Task.Delay(100); }
        }
        string output;
        lock (_output) output = _output.ToString();
        throw new TimeoutException($"slapd did not start on {Url}: {output}");
    }

    /// <summary>
    /// SIGSTOP: the server stops answering, but the kernel still accepts connections for it
    /// (an overloaded or hung server, as a client sees it).
    /// </summary>
    public async Task PauseAsync()
    {
        await ExternalTool.RunAsync("kill", ["-STOP", _process!.Id.ToString()]);
        _paused = true;
    }

    public async Task ResumeAsync()
    {
        if (_process is null || _process.HasExited) return;
        await ExternalTool.RunAsync("kill", ["-CONT", _process.Id.ToString()]);
        _paused = false;
    }

    /// <summary>Stops the server (SIGTERM) and waits until it has exited and its port is closed.</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        if (_paused) await ResumeAsync();
        await ExternalTool.RunAsync("kill", ["-TERM", _process.Id.ToString()]);
        using var cts = new CancellationTokenSource(Wait);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { _process.Kill(); throw new TimeoutException("slapd did not stop after SIGTERM"); }
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); }
        finally
        {
            _process?.Dispose();
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }
    }
}
