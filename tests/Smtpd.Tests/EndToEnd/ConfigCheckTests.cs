namespace Smtpd.Tests.EndToEnd;

// `smtpd -n -f FILE`: the configuration is checked, nothing is started.
public sealed class ConfigCheckTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-conf-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Write(string text)
    {
        string path = Path.Combine(_dir, "smtpd.conf");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task Valid_configuration_prints_configuration_ok()
    {
        string path = Write("""
            listen on 127.0.0.1 port 2525
            table domains { example.org, example.net }
            action "local" maildir
            action "out" relay
            match from any for domain <domains> action "local"
            match from local for any action "out"
            """);
        var (code, stdout, _) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.Equal(0, code);
        Assert.Equal("configuration OK", stdout.Trim());
    }

    [Fact]
    public async Task A_file_table_map_line_without_a_value_is_an_error_at_its_file_and_line()
    {
        string table = Path.Combine(_dir, "aliases");
        File.WriteAllText(table, "# aliases\n\npostmaster: root\n  lonely\nabuse root\n");
        string path = Write($"""
            listen on 127.0.0.1 port 2525
            table aliases file:{table}
            action "local" maildir alias <aliases>
            match from any for local action "local"
            """);
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.Equal(1, code);
        Assert.Contains($"{table}:4: invalid map entry", stderr);
        Assert.Contains($"{path}:2:", stderr); // and the smtpd.conf line that declares it

        // "# @list" makes the same lines a list, whose entries are whole lines: no format error.
        // As users of "match auth" they are free-form and pass; as domains they are not domains.
        File.WriteAllText(table, "# @list\npostmaster: root\n  lonely\n");
        path = Write($"""
            listen on 127.0.0.1 port 2525
            table names file:{table}
            action "local" maildir
            match auth <names> for local action "local"
            """);
        (code, var stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
        File.AppendAllText(path, "\nmatch from any for domain <names> action \"local\"\n");
        (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.Equal(1, code);
        Assert.True(stderr.Contains($"{table}:2: bad domain entry \"postmaster: root\""), stderr);
        Assert.DoesNotContain($"{table}:3:", stderr); // "lonely" is a fine domain name
    }

    // OpenSMTPD (parse.y, table.c) names an external table process "proc:/command"; proc-exec
    // is a filter keyword only, and "table t proc-exec:..." is an unknown backend there too.
    [Fact]
    public async Task A_proc_table_is_spelled_proc_and_proc_exec_is_an_unknown_backend()
    {
        string path = Write("listen on 127.0.0.1 port 2525\ntable t proc-exec:/bin/true\naction \"local\" maildir\nmatch from any for domain <t> action \"local\"\n");
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.Equal(1, code);
        Assert.Contains($"{path}:2:", stderr);
        Assert.Contains("unknown backend 'proc-exec'", stderr);
        path = Write("listen on 127.0.0.1 port 2525\ntable t proc:/bin/true\naction \"local\" maildir\nmatch from any for domain <t> action \"local\"\n");
        (code, var stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
    }

    [Fact]
    public async Task Error_names_file_and_line()
    {
        string path = Write("listen on 127.0.0.1\naction \"local\" maildir\nmatch from any for local action \"missing\"\n");
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.Equal(1, code);
        Assert.Contains($"{path}:3:", stderr);
    }

    [Fact]
    public async Task Unknown_keyword_names_its_line()
    {
        string path = Write("listen on 127.0.0.1\n\nfrobnicate everything\n");
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.Equal(1, code);
        Assert.Contains($"{path}:3:", stderr);
    }

    [Fact]
    public async Task Usage_errors_and_help()
    {
        var help = await SmtpdInstance.RunAsync("-h");
        Assert.Equal(0, help.Code);
        Assert.Contains("usage: smtpd", help.Stdout);
        var bad = await SmtpdInstance.RunAsync("-x");
        Assert.Equal(64, bad.Code);
        Assert.Contains("unknown option -x", bad.Stderr);
        var missing = await SmtpdInstance.RunAsync("-n", "-f");
        Assert.Equal(64, missing.Code);
        Assert.Contains("option -f requires an argument", missing.Stderr);
    }

    [Fact]
    public async Task Macros_from_the_command_line()
    {
        string path = Write("listen on $addr port 2525\naction \"local\" mbox\nmatch from local for local action \"local\"\n");
        Assert.Equal(1, (await SmtpdInstance.RunAsync("-n", "-f", path)).Code);
        var (code, stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-D", "addr=127.0.0.1", "-f", path);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
    }

    public static TheoryData<string> SeedConfigs => new()
    {
        // Seed 004 (the talk): "Backup server" and "Signing outgoing mail with DKIM proxy" use only
        // features of the foundation (static tables, tags, relay rules, mbox). The others need
        // db tables, userbase, TLS or auth, which come with later issues.
        """
        listen on egress

        table poolp { poolp.org, opensmtpd.org }

        accept for local deliver to mbox

        accept from any for domain example.org relay \
            backup mx4.example.org

        accept from any for domain <poolp> relay \
            backup mx2.poolp.org
        """,
        """
        listen on lo0
        listen on lo0 port 10029 tag DKIM

        accept for local deliver to mbox
        accept tagged DKIM for any relay
        accept for any relay via smtp://127.0.0.1:10028
        """,
        // Seed 000: relaying through a fixed host, and acting as a backup MX.
        """
        listen on lo0
        accept for domain "poolp.org" relay via "mx1.poolp.org"
        """,
        """
        listen on lo0
        accept for domain "poolp.org" relay backup "mx2.poolp.org"
        """,
        // Seed 001: a sink delivering every address to one account (virtual expansion comes
        // with the local delivery issue: -n warns about it, and says the file is fine).
        """
        listen on lo0
        accept for any virtual { "@" => gilles } deliver to maildir
        """,
    };

    [Fact]
    public async Task Features_not_built_yet_are_warned_by_n_and_refused_at_start()
    {
        // Valid smtpd.conf, but SRS comes later.
        string path = Write("srs key \"0123456789abcdef0123456789abcdef\"\nlisten on 127.0.0.1 port 2525\naction \"out\" relay srs\nmatch from any for any action \"out\"\n");
        var (code, stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        Assert.Equal(0, code);
        Assert.Equal("configuration OK", stdout.Trim());
        Assert.Contains($"{path}:3: warning: SRS is not supported yet", stderr);

        var started = await SmtpdInstance.RunAsync("-d", "-f", path);
        Assert.Equal(1, started.Code);
        Assert.Contains($"{path}:3: SRS is not supported yet", started.Stderr);
    }

    [Theory]
    [MemberData(nameof(SeedConfigs))]
    public async Task Seed_configurations_check_ok(string config)
    {
        var (code, stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", Write(config));
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
    }
}
