using System.Net;
using System.Net.Sockets;
using Smtpd.Config;
using Smtpd.Mda;
using Smtpd.Privsep;
using Smtpd.Reload;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.Privsep;

// A reload happens in the daemon after it became _smtpd: the helper, still root, reads the
// configuration the daemon started with (a 0600 key included) and opens ports below 1024, and
// the daemon reaches both only through PrivilegedClient, as here over a real socket pair.
public sealed class PrivilegedReloadTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-privreload-").FullName;
    readonly SmtpdLog _log = new(foreground: true, verbose: false, stderr: TextWriter.Null);
    readonly List<PrivilegedClient> _clients = [];

    string ConfigFile => Path.Combine(_dir, "smtpd.conf");

    /// <summary>A helper started with <c>-f smtpd.conf</c> of the test directory, and the daemon's side of its channel.</summary>
    PrivilegedClient StartHelper(int defaultPort = 25, IReadOnlyDictionary<string, string>? macros = null)
    {
        var (daemon, helperEnd) = FdChannel.Pair();
        var started = new StartedConfiguration(ConfigFile, macros ?? new Dictionary<string, string>(), defaultPort);
        var helper = new PrivilegedHelper(helperEnd, new SmtpdPaths(_dir, "/nonexistent.sock", _dir), _log, started, SmtpdSettings.Default);
        new Thread(helper.Run) { IsBackground = true }.Start();
        var client = new PrivilegedClient(daemon, helper: null);
        _clients.Add(client);
        return client;
    }

    static async Task<ConfigCheck> CheckAsync(PrivilegedClient client)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await client.CheckConfigAsync(cts.Token);
    }

    static async Task<Socket> BindAsync(PrivilegedClient client, IPEndPoint endpoint)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await client.BindAsync(endpoint, cts.Token);
    }

    [SkippableFact]
    public async Task A_root_only_key_comes_in_the_bundle_and_the_daemon_loads_it_as_an_unprivileged_user()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root: the key is readable by root only");
        var nobody = SystemUsers.Lookup("nobody");
        Skip.If(nobody is null, "needs the user nobody to read the configuration as");
        // Everything readable by all but the key, as an administrator has it.
        File.SetUnixFileMode(_dir, (UnixFileMode)Convert.ToInt32("755", 8));
        TestCertificates.Write(_dir, "mx", "mx.example.org");
        string key = Path.Combine(_dir, "mx.key");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(ConfigFile, $"""
            pki mx.example.org cert "{_dir}/mx.crt"
            pki mx.example.org key "{key}"
            listen on 127.0.0.1 port 2525 smtps pki mx.example.org
            action "local" maildir
            match from local for local action "local"
            """);

        var check = await CheckAsync(StartHelper());

        Assert.True(check.Ok, string.Join("\n", check.Errors));
        Assert.Equal(File.ReadAllText(key), check.Files[key]);
        Assert.Equal(File.ReadAllText(ConfigFile), check.Files[ConfigFile]);
        CheckedConfig LoadAsNobody(ConfigFiles files) =>
            UserFileAccess.RunAsync(nobody!, () => CheckedConfig.Load(ConfigFile, new Dictionary<string, string>(), privileged: true, SmtpdSettings.Default, files))
                .GetAwaiter().GetResult();
        // As the daemon is after it gave up root: the disk refuses it the key, the bundle has it.
        var refused = Assert.Throws<ConfigException>(() => LoadAsNobody(ConfigFiles.Disk));
        Assert.Contains($"{key}: cannot open key file: Permission denied", Assert.Single(refused.Errors).ToString());
        var config = LoadAsNobody(ConfigFiles.Bundle(check.Files));
        Assert.NotNull(Assert.Single(config.Listeners).Tls);
    }

    [Fact]
    public async Task A_broken_configuration_is_answered_with_every_error_at_its_file_and_line()
    {
        File.WriteAllText(Path.Combine(_dir, "rules.conf"), "match from any for any action \"nowhere\"\n");
        File.WriteAllText(ConfigFile, """
            action "local" maildir
            bogus statement
            include "rules.conf"
            pki mx.example.org cert "/nonexistent/mx.crt"
            """);

        var check = await CheckAsync(StartHelper());

        Assert.False(check.Ok);
        Assert.Empty(check.Files);
        var expected = Assert.Throws<ConfigException>(() =>
            CheckedConfig.Load(ConfigFile, new Dictionary<string, string>(), privileged: true, SmtpdSettings.Default)).Errors;
        Assert.Equal(expected, check.Errors);
        var printed = check.Errors.Select(e => e.ToString()).ToList();
        Assert.Equal($"{ConfigFile}:2: unknown keyword 'bogus'", printed[0]);
        Assert.Contains(printed, e => e.StartsWith($"{Path.Combine(_dir, "rules.conf")}:1: "));
        Assert.Contains(printed, e => e.StartsWith($"{ConfigFile}:4: pki mx.example.org has no key"));
    }

    [Fact]
    public async Task Statements_not_supported_yet_are_errors_as_at_a_start()
    {
        File.WriteAllText(ConfigFile, """
            action "e" expand-only
            match from any for any action "e"
            """);

        var check = await CheckAsync(StartHelper());

        Assert.False(check.Ok);
        Assert.Equal([$"{ConfigFile}:1: \"ExpandOnly\" delivery is not supported yet"], check.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public async Task The_macros_the_daemon_started_with_are_used()
    {
        File.WriteAllText(ConfigFile, """
            action "local" $method
            match from local for local action "local"
            """);

        Assert.True((await CheckAsync(StartHelper(macros: new Dictionary<string, string> { ["method"] = "maildir" }))).Ok);
        Assert.False((await CheckAsync(StartHelper())).Ok);
    }

    [Fact]
    public async Task A_bundle_larger_than_a_channel_message_comes_whole()
    {
        // A CA file the size of a system bundle: more than one message of the channel carries.
        TestCertificates.Write(_dir, "ca", "ca.example.org");
        string ca = Path.Combine(_dir, "ca.crt");
        File.WriteAllText(ca, string.Join("\n", Enumerable.Repeat(File.ReadAllText(ca), FdChannel.MaxMessage / 400)));
        Assert.True(new FileInfo(ca).Length > FdChannel.MaxMessage);
        File.WriteAllText(ConfigFile, $"""
            ca big cert "{ca}"
            action "out" relay host smtp+tls://127.0.0.1:2526 ca big
            match from any for any action "out"
            """);

        var check = await CheckAsync(StartHelper());

        Assert.True(check.Ok, string.Join("\n", check.Errors));
        Assert.Equal(File.ReadAllText(ca), check.Files[ca]);
    }

    /// <summary>A port below 1024 nothing listens on, on 127.0.0.1 (from a random start: tests run in parallel).</summary>
    internal static int FreePrivilegedPort()
    {
        int start = Random.Shared.Next(401);
        for (int i = 0; i <= 400; i++)
        {
            int port = 600 + (start + i) % 401;
            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) { }
        }
        throw new InvalidOperationException("no free port between 600 and 1000");
    }

    [SkippableFact]
    public async Task Bind_opens_a_listeners_port_below_1024_that_accepts_connections()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root: ports below 1024");
        int port = FreePrivilegedPort();
        // The listener names no port: the daemon's default one.
        File.WriteAllText(ConfigFile, """
            listen on 127.0.0.1
            action "local" maildir
            match from local for local action "local"
            """);
        var client = StartHelper(defaultPort: port);
        Assert.True((await CheckAsync(client)).Ok);
        // Taken by another program: the system's reason comes back.
        using (var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            other.Bind(new IPEndPoint(IPAddress.Loopback, port));
            other.Listen();
            var taken = await Assert.ThrowsAsync<IOException>(() => BindAsync(client, new IPEndPoint(IPAddress.Loopback, port)));
            Assert.Contains("in use", taken.Message);
        }

        using var listening = await BindAsync(client, new IPEndPoint(IPAddress.Loopback, port));

        using var connecting = new TcpClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await connecting.ConnectAsync(IPAddress.Loopback, port, cts.Token);
        using var accepted = await listening.AcceptAsync(cts.Token);
        Assert.Equal(((IPEndPoint)connecting.Client.LocalEndPoint!).Port, ((IPEndPoint)accepted.RemoteEndPoint!).Port);
    }

    [Fact]
    public async Task Bind_refuses_an_endpoint_no_listener_names()
    {
        File.WriteAllText(ConfigFile, """
            listen on 127.0.0.1 port 2525
            action "local" maildir
            match from local for local action "local"
            """);
        var client = StartHelper();
        // Before any check there is no configuration to keep to.
        await Assert.ThrowsAsync<IOException>(() => BindAsync(client, new IPEndPoint(IPAddress.Loopback, 2525)));
        Assert.True((await CheckAsync(client)).Ok);

        foreach (var endpoint in new[] { new IPEndPoint(IPAddress.Loopback, 22), new IPEndPoint(IPAddress.Any, 2525), new IPEndPoint(IPAddress.Loopback, 25) })
        {
            var refused = await Assert.ThrowsAsync<IOException>(() => BindAsync(client, endpoint));
            Assert.Equal("refused by the privileged helper: no listener of the configuration it checked listens there", refused.Message);
        }
    }

    public void Dispose()
    {
        foreach (var client in _clients) client.Dispose(); // each helper sees the end of its channel and stops
        _log.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
