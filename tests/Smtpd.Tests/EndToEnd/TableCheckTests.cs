namespace Smtpd.Tests.EndToEnd;

// Issue 8: table values are parsed per service, and a bad entry of a file table is named at its
// file:line by `smtpd -n`, at start and by `smtpctl update table`, which then keeps the old
// contents. Each table's service comes from where the configuration uses it.
public sealed class TableCheckTests : IDisposable
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-tables-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Table(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    string Config(string text)
    {
        string path = Path.Combine(_dir, "smtpd.conf");
        File.WriteAllText(path, text.Replace("{dir}", _dir));
        return path;
    }

    // One table per service, each with good lines and bad ones; one run names every bad line.
    const string EveryService = """
        table nets file:{dir}/nets
        table domains file:{dir}/domains
        table rcpts file:{dir}/rcpts
        table aliases file:{dir}/aliases
        table vusers file:{dir}/vusers
        table virtuals file:{dir}/virtuals
        table creds file:{dir}/creds
        table sendermap file:{dir}/sendermap
        table secrets file:{dir}/secrets
        table srcs file:{dir}/srcs
        table helos file:{dir}/helos
        table patterns file:{dir}/patterns
        listen on 127.0.0.1 port 2525 auth <creds> senders <sendermap>
        action "local" maildir alias <aliases>
        action "vlocal" maildir virtual <virtuals> userbase <vusers>
        action "out" relay host smtp+tls://label@mx.example.org auth <secrets> src <srcs> helo-src <helos>
        match from src <nets> for domain <domains> rcpt-to <rcpts> action "local"
        match from any for domain regex <patterns> action "vlocal"
        match from local for any action "out"
        """;

    void WriteEveryServiceTables(bool withMistakes)
    {
        string bad(string line) => withMistakes ? line : "";
        Table("nets", "192.0.2.0/24\n" + bad("10.0.0.300\n") + "10/8\n" + bad("mx.example.org\n"));
        Table("domains", "example.org\n" + bad("bob@example.org\n") + "*.example.net\n");
        Table("rcpts", "bob@example.org\n@example.net\n" + bad("<carol@example.org>\n"));
        Table("aliases", "root: bob\n" + bad("abuse: error:55 go away\n") + "team: bob, carol@example.org, \"|/usr/bin/true\"\n" + bad("sales: :include:staff\n"));
        Table("vusers", "alice 4242:4242:/var/vmail/alice\n" + bad("carol 4243:staff:/var/vmail/carol\n"));
        Table("virtuals", "alice@example.org alice\n@example.org alice\n" + bad("bob@example..org alice\n"));
        Table("creds", "bob $6$saltsalt$hashhashhash\n" + bad("carol cleartext\n"));
        Table("sendermap", "bob bob@example.org, @example.net\n" + bad("carol carol@exa..mple.org\n"));
        Table("secrets", "label bob:secret\n" + bad("other bob\n"));
        Table("srcs", "192.0.2.10\n" + bad("192.0.2.0/24\n"));
        Table("helos", "192.0.2.10 mx1.example.org\n" + bad("mx2 mx2.example.org\n"));
        Table("patterns", "^example\\.(org|net)$\n" + bad("[unclosed\n"));
    }

    [Fact]
    public async Task Smtpd_n_names_every_bad_line_of_every_table_at_its_file_and_line()
    {
        string conf = Config(EveryService);
        WriteEveryServiceTables(withMistakes: false);
        var (code, stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());

        WriteEveryServiceTables(withMistakes: true);
        (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.Equal(1, code);
        string[] expected =
        [
            $"{conf}:1: {_dir}/nets:2: bad netaddr entry \"10.0.0.300\"",
            $"{conf}:1: {_dir}/nets:4: bad netaddr entry \"mx.example.org\"",
            $"{conf}:2: {_dir}/domains:2: bad domain entry \"bob@example.org\"",
            $"{conf}:3: {_dir}/rcpts:3: bad mailaddr entry \"<carol@example.org>\"",
            $"{conf}:4: {_dir}/aliases:2: bad alias value for \"abuse\": \"error:55 go away\"",
            $"{conf}:4: {_dir}/aliases:4: bad alias value for \"sales\": \":include:staff\": an include needs an absolute path",
            $"{conf}:5: {_dir}/vusers:2: bad userinfo value for \"carol\": not uid:gid:/home",
            $"{conf}:6: {_dir}/virtuals:3: bad virtual key \"bob@example..org\"",
            $"{conf}:7: {_dir}/creds:2: bad credentials value for \"carol\": not a password hash",
            $"{conf}:8: {_dir}/sendermap:2: bad mailaddrmap value for \"carol\"",
            $"{conf}:9: {_dir}/secrets:2: bad credentials value for \"other\": not login:password",
            $"{conf}:10: {_dir}/srcs:2: bad source entry \"192.0.2.0/24\": not an IP address",
            $"{conf}:11: {_dir}/helos:2: bad addrname key \"mx2\": not an IP address",
            $"{conf}:12: {_dir}/patterns:2: bad regex entry \"[unclosed\"",
        ];
        foreach (string line in expected) Assert.True(stderr.Contains(line), $"missing {line} in\n{stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Length, lines.Length); // the good lines are not named
    }

    [Fact]
    public async Task Inline_tables_and_literals_are_checked_at_the_line_that_writes_them()
    {
        string conf = Config("""
            listen on 127.0.0.1 port 2525
            table nets { 192.0.2.0/24, 10.0.0.300 }
            table vusers { alice = "4242:4242:/var/vmail/alice", bob = "4243" }
            action "local" maildir userbase <vusers>
            match from src <nets> for any action "local"
            match from src 198.51.100.300 for any action "local"
            """);
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.Equal(1, code);
        Assert.Contains($"{conf}:2: table <nets>: bad netaddr entry \"10.0.0.300\"", stderr);
        Assert.Contains($"{conf}:3: table <vusers>: bad userinfo value for \"bob\"", stderr);
        Assert.Contains($"{conf}:6: bad netaddr entry \"198.51.100.300\"", stderr);
        Assert.DoesNotContain("alice", stderr);

        // A literal domain is a parse error of its own line (and a regex must compile).
        conf = Config("""
            listen on 127.0.0.1 port 2525
            action "local" maildir
            match from any for domain "bad domain.example" action "local"
            match from any for domain regex "(unclosed" action "local"
            match from any for domain "*.example.org" action "local"
            """);
        (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.Equal(1, code);
        Assert.Contains($"{conf}:3: bad domain \"bad domain.example\": a space is not allowed in a domain", stderr);
        Assert.Contains($"{conf}:4: bad regex \"(unclosed\"", stderr);
        Assert.DoesNotContain($"{conf}:5:", stderr);
    }

    [Fact]
    public async Task A_list_where_a_service_needs_values_is_an_error()
    {
        string aliases = Table("aliases", "root\nbob\n");
        string conf = Config("""
            listen on 127.0.0.1 port 2525
            table aliases file:{dir}/aliases
            action "local" maildir alias <aliases>
            match from any for local action "local"
            """);
        var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.Equal(1, code);
        Assert.Contains($"{conf}:2: {aliases}: alias needs \"key value\" lines, and this table is a list", stderr);
    }

    // The same text serves as a list of users (auth <t>, tags), whose keys are free: no check.
    [Fact]
    public async Task Tables_of_free_form_names_are_not_checked()
    {
        Table("users", "bob\ncarol the admin\n");
        string conf = Config("""
            listen on 127.0.0.1 port 2525 tag "in bound"
            table users file:{dir}/users
            action "local" maildir
            match auth <users> for local action "local"
            match from any for local action "local"
            """);
        var (code, stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", conf);
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
    }

    [Fact]
    public async Task The_daemon_refuses_to_start_on_a_bad_table_line()
    {
        await using var smtpd = new SmtpdInstance("""
            table vusers file:{dir}/vusers
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" userbase <vusers>
            match from any for local action "local"
            """);
        string vusers = Path.Combine(smtpd.Dir, "vusers");
        File.WriteAllText(vusers, "alice 4242:4242:/var/vmail/alice\nbob 4243:4243\n");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => smtpd.StartAsync());
        Assert.Contains($"{vusers}:2: bad userinfo value for \"bob\"", error.Message);
        Assert.True(smtpd.Process.WaitForExit(10_000));
        Assert.Equal(1, smtpd.Process.ExitCode);
    }

    // Through SMTP: a bad edit is refused by update table with its file:line, the old contents
    // keep deciding recipients, and once the file is mended the update takes.
    [Fact]
    public async Task Update_table_refuses_a_bad_edit_and_keeps_serving_the_old_contents()
    {
        await using var smtpd = new SmtpdInstance("""
            table domains file:{dir}/domains
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain <domains> action "local"
            """);
        string domains = Path.Combine(smtpd.Dir, "domains");
        File.WriteAllText(domains, "one.example\n");
        await smtpd.StartAsync();
        Task<string> Rcpt(string domain) =>
            SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", $"{TestUsers.Recipient}@{domain}", "update", "body");
        Assert.StartsWith("250", await Rcpt("one.example"));

        File.WriteAllText(domains, "one.example\ntwo.example\npostmaster@three.example\n");
        var (code, output) = await Control.Smtpctl.RunAsync(smtpd, "update", "table", "domains");
        Assert.Equal(1, code);
        Assert.Contains($"table domains: {domains}:3: bad domain entry \"postmaster@three.example\"", output);
        await smtpd.WaitForLogAsync($"{domains}:3: bad domain entry", Timeout);
        Assert.StartsWith("250", await Rcpt("one.example"));
        Assert.StartsWith("550", await Rcpt("two.example")); // the refused edit is not in use

        File.WriteAllText(domains, "one.example\ntwo.example\n");
        (code, output) = await Control.Smtpctl.RunAsync(smtpd, "update", "table", "domains");
        Assert.Equal((0, "command succeeded"), (code, output.Trim()));
        Assert.StartsWith("250", await Rcpt("two.example"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 3, Timeout);
    }
}
