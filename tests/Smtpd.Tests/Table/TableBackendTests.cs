using Microsoft.Data.Sqlite;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Table;

// Table backends checked through SMTP behaviour: a domain list and aliases in SQLite (the
// format of opensmtpd-extras' table-sqlite) and in an external table program written in a few
// lines of Python speaking OpenSMTPD's table protocol 0.1.
public sealed class TableBackendTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static Task<string> RcptAsync(int port, string rcpt) =>
        SmtpDialogue.TryDeliverAsync(port, $"{TestUsers.Recipient}@localhost", rcpt, "table test", $"for {rcpt}");

    // A SQLite database built from SQL, and the table-sqlite configuration that reads it.
    static string SqliteTables(string dir, string sql, string queries)
    {
        string db = Path.Combine(dir, "tables.db");
        using (var c = new SqliteConnection($"Data Source={db}"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools(); // the daemon must see a closed, complete file
        File.WriteAllText(Path.Combine(dir, "sqlite.conf"), $"dbpath {db}\n{queries}\n");
        return db;
    }

    [Fact]
    public async Task Sqlite_domains_and_aliases_decide_recipients()
    {
        await using var smtpd = new SmtpdInstance();
        string db = SqliteTables(smtpd.Dir, $"""
            CREATE TABLE domains (domain TEXT);
            INSERT INTO domains VALUES ('sql.example');
            CREATE TABLE aliases (key TEXT, value TEXT);
            INSERT INTO aliases VALUES ('sales', '{TestUsers.Recipient}');
            INSERT INTO aliases VALUES ('team', '{TestUsers.Recipient}');
            """,
            """
            query_domain SELECT domain FROM domains WHERE domain=?;
            query_alias SELECT value FROM aliases WHERE key=?;
            """);
        smtpd.WriteConfig("""
            table sqldomains sqlite:{dir}/sqlite.conf
            table sqlaliases sqlite:{dir}/sqlite.conf
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <sqlaliases>
            match from any for domain <sqldomains> action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "sales@sql.example"));
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, "sales@other.example"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "nobody-at-all@sql.example"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);

        File.Move(db, db + ".away");
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, "team@sql.example"));
        File.Move(db + ".away", db);
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "team@sql.example"));
    }

    /// <summary>RCPT (and, if accepted, DATA) from a client bound to <paramref name="client"/>.</summary>
    static async Task<string> SendFromAsync(int port, string client, string sender, string rcpt, string subject)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port, client);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync($"MAIL FROM:<{sender}>");
        string reply = await d.CommandAsync($"RCPT TO:<{rcpt}>");
        if (!reply.StartsWith("250")) return reply;
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\n\r\nbody\r\n."));
        return reply;
    }

    // The other services of one sqlite table, each through what it decides: netaddr (from src),
    // mailaddr (mail-from), virtual (alias lookups), source (relay src: a fetch) and addrname
    // (helo-src: the HELO name for that source).
    [Fact]
    public async Task Sqlite_serves_netaddr_mailaddr_virtual_source_and_addrname()
    {
        await using var peer = await Mta.ReceivingPeer.StartAsync();
        await using var smtpd = new SmtpdInstance();
        SqliteTables(smtpd.Dir, $"""
            CREATE TABLE nets (address TEXT);
            INSERT INTO nets VALUES ('127.0.0.1');
            CREATE TABLE senders (address TEXT);
            INSERT INTO senders VALUES ('alice@example.org');
            CREATE TABLE virtuals (key TEXT, value TEXT);
            INSERT INTO virtuals VALUES ('info@virt.example', '{TestUsers.Recipient}');
            CREATE TABLE sources (address TEXT);
            INSERT INTO sources VALUES ('127.0.0.21');
            CREATE TABLE names (address TEXT, name TEXT);
            INSERT INTO names VALUES ('127.0.0.21', 'sql-named.example');
            """,
            """
            query_netaddr SELECT address FROM nets WHERE address=?;
            query_mailaddr SELECT address FROM senders WHERE address=?;
            query_alias SELECT value FROM virtuals WHERE key=?;
            fetch_source SELECT address FROM sources;
            query_addrname SELECT name FROM names WHERE address=?;
            """);
        smtpd.WriteConfig($$"""
            table sql sqlite:{dir}/sqlite.conf
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" virtual <sql>
            action "out" relay host smtp://127.0.0.1:{{peer.Port}} src <sql> helo-src <sql>
            match from src <sql> mail-from <sql> for domain "virt.example" action "local"
            match from src <sql> mail-from <sql> for domain "far.example" action "out"
            """);
        await smtpd.StartAsync();

        Assert.StartsWith("250", await SendFromAsync(smtpd.Port, "127.0.0.1", "alice@example.org", "info@virt.example", "virtual"));
        var local = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("Delivered-To: info@virt.example", File.ReadAllText(local[0]));
        // A sender the mailaddr query does not know, a client the netaddr query does not know: no rule.
        Assert.StartsWith("550", await SendFromAsync(smtpd.Port, "127.0.0.1", "mallory@example.org", "info@virt.example", "unknown sender"));
        Assert.StartsWith("550", await SendFromAsync(smtpd.Port, "127.0.0.22", "alice@example.org", "info@virt.example", "unknown client"));

        Assert.StartsWith("250", await SendFromAsync(smtpd.Port, "127.0.0.1", "alice@example.org", $"{TestUsers.Recipient}@far.example", "relayed"));
        var relayed = await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Contains("from sql-named.example (", File.ReadAllText(relayed[0]));
        await peer.WaitForLogAsync("smtp connected address=127.0.0.21", Timeout);
    }

    // A backend that is not read whole (sqlite here) has its values parsed as lookups return
    // them: a value that is not what the service needs is the table's fault, so the recipient
    // gets 451 (never a 5xx decided from a broken table) and the log names the table and key.
    [Fact]
    public async Task Sqlite_values_that_do_not_parse_give_451_and_a_log_line_naming_the_table()
    {
        await using var smtpd = new SmtpdInstance();
        uint uid = TestUsers.Uid(TestUsers.Recipient);
        SqliteTables(smtpd.Dir, $"""
            CREATE TABLE aliases (key TEXT, value TEXT);
            INSERT INTO aliases VALUES ('sales', '{TestUsers.Recipient}');
            INSERT INTO aliases VALUES ('broken', 'error:55 not a code');
            CREATE TABLE users (name TEXT, info TEXT);
            INSERT INTO users VALUES ('alice', '{uid}:{uid}:{smtpd.Dir}/home/alice');
            INSERT INTO users VALUES ('bob', '{uid}:staff:{smtpd.Dir}/home/bob');
            """,
            """
            query_alias SELECT value FROM aliases WHERE key=?;
            query_userinfo SELECT info FROM users WHERE name=?;
            """);
        smtpd.WriteConfig("""
            table sql sqlite:{dir}/sqlite.conf
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <sql>
            action "virtual" maildir "{dir}/maildirs/%{user.username}" userbase <sql>
            match from any for domain "alias.example" action "local"
            match from any for domain "users.example" action "virtual"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "sales@alias.example"));
        Assert.StartsWith("451", await RcptAsync(smtpd.Port, "broken@alias.example"));
        await smtpd.WaitForLogAsync("table sql: bad alias value for \"broken\": \"error:55 not a code\"", Timeout);
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "alice@users.example"));
        Assert.StartsWith("451", await RcptAsync(smtpd.Port, "bob@users.example"));
        await smtpd.WaitForLogAsync("table sql: bad userinfo for bob", Timeout);
    }

    const string PythonTable = """
        import os, sys
        state = sys.argv[1]
        services = set()
        for line in sys.stdin:
            line = line.rstrip('\n')
            if line == 'config|ready':
                for s in ('domain', 'alias'):
                    print('register|' + s)
                print('register|ready', flush=True)
                continue
            if line.startswith('config|'):
                continue
            f = line.split('|')
            req, svc, rid = f[4], f[5], f[6]
            key = f[7] if len(f) > 7 else ''
            if os.path.exists(state + '/down'):
                print(req + '-result|' + rid + '|error|backend down', flush=True)
                continue
            data = {'domain': {'proc.example': 'proc.example'}, 'alias': {'helpdesk': sys.argv[2]}}[svc]
            if key in data:
                print(req + '-result|' + rid + ('|found' if req == 'check' else '|found|' + data[key]), flush=True)
            else:
                print(req + '-result|' + rid + '|not-found', flush=True)
        """;

    [SkippableFact]
    public async Task A_python_table_program_serves_domains_and_aliases_and_its_outage_gives_451()
    {
        Skip.IfNot(ExternalTool.Exists("python3"), "python3 is not installed");
        await using var smtpd = new SmtpdInstance();
        string script = Path.Combine(smtpd.Dir, "table.py");
        File.WriteAllText(script, "#!/usr/bin/env python3\n" + PythonTable);
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        smtpd.WriteConfig($$"""
            table procdomains "proc:{{script}} {dir} {{TestUsers.Recipient}}"
            table procaliases "proc:{{script}} {dir} {{TestUsers.Recipient}}"
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <procaliases>
            match from any for domain <procdomains> action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "helpdesk@proc.example"));
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, "helpdesk@elsewhere.example"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);

        File.WriteAllText(Path.Combine(smtpd.Dir, "down"), "");
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, "helpdesk@proc.example"));
        File.Delete(Path.Combine(smtpd.Dir, "down"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "helpdesk@proc.example"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);
    }

    // RCPT --> smtpd --> proc table process 1; smtpctl update table --> process 2 started and
    // process 1 ended (it was kept running forever before).
    [SkippableFact]
    public async Task Update_table_ends_the_old_proc_table_process()
    {
        Skip.IfNot(ExternalTool.Exists("python3"), "python3 is not installed");
        await using var smtpd = new SmtpdInstance();
        string script = Path.Combine(smtpd.Dir, "table.py"), pids = Path.Combine(smtpd.Dir, "pids");
        File.WriteAllText(script, "#!/usr/bin/env python3\nimport os, sys\nopen(sys.argv[1] + '/pids', 'a').write(str(os.getpid()) + '\\n')\n" + PythonTable);
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        File.WriteAllText(pids, "");
        File.SetUnixFileMode(pids, (UnixFileMode)0b110_110_110); // the table runs as the daemon's user
        smtpd.WriteConfig($$"""
            table procdomains "proc:{{script}} {dir} {{TestUsers.Recipient}}"
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain <procdomains> action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@elsewhere.example"));
        string first = Assert.Single(File.ReadAllLines(pids));
        Assert.True(Directory.Exists($"/proc/{first}"), "the table process runs");

        var (code, output) = await Control.Smtpctl.RunAsync(smtpd, "update", "table", "procdomains");
        Assert.True(code == 0, output);
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@proc.example"));
        var both = File.ReadAllLines(pids);
        Assert.Equal(2, both.Length);
        Assert.True(Directory.Exists($"/proc/{both[1]}"), "the new table process runs");
        for (var deadline = DateTime.UtcNow + Timeout; Alive(first) && DateTime.UtcNow < deadline;) await Task.Delay(50);
        Assert.False(Alive(first), $"the old table process {first} still runs after update table");

        // A zombie is gone too: only its /proc entry would be left, in state Z.
        static bool Alive(string pid) =>
            File.Exists($"/proc/{pid}/stat") && ReadState(pid) is not ('Z' or 'X' or '\0');
        static char ReadState(string pid)
        {
            try { string stat = File.ReadAllText($"/proc/{pid}/stat"); return stat[(stat.LastIndexOf(')') + 2)..][0]; }
            catch (IOException) { return '\0'; }
        }
    }

    // RCPT --> smtpd --> file: tables in table(5)'s format --> maildir: comments only at the start
    // of a line, "key: value" and "key value", a repeated key keeps its last value, "# @list".
    [Fact]
    public async Task File_tables_read_what_opensmtpd_reads()
    {
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "domains"), "# @list\n  file.example  \n# other.example\n");
        File.WriteAllText(Path.Combine(smtpd.Dir, "aliases"),
            $"# comment\nsales: nobody-here\nSales:\t{TestUsers.Recipient}\nhash {TestUsers.Recipient}#not-a-comment@localhost\n\n");
        smtpd.WriteConfig($$"""
            table domains file:{dir}/domains
            table aliases file:{dir}/aliases
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
            match from any for domain <domains> action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "sales@file.example"));
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, "sales@other.example"));
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        Assert.Single(files);
        // The '#' inside a value is part of it: that address does not exist, so the alias fails.
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, "hash@file.example"));
    }

    // Continuations: a final backslash joins the next line (OpenSMTPD's makemap up to 7.4), and
    // an indented line goes on with an entry ending in a comma (aliases(5)). Without them the
    // lines "spl\" and "  helpdesk" would be keys without values and smtpd would not start.
    [Fact]
    public async Task File_tables_continue_a_line_after_a_backslash_or_a_trailing_comma()
    {
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "aliases"),
            $"team: {TestUsers.Recipient},\n  helpdesk\nhelpdesk: {TestUsers.Recipient}\n  indented: {TestUsers.Recipient}\nspl\\\nit: helpdesk\n");
        smtpd.WriteConfig("""
            table aliases file:{dir}/aliases
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
            match from any for local action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "team@localhost"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "indented@localhost")); // an entry of its own
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "split@localhost"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "spl@localhost"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 3, Timeout);
    }

    static Task<(int, string)> OurMakemapAsync(params string[] args) =>
        TestBinaries.RunAsync("smtpctl", ["makemap", .. args]);

    // Our makemap reads its source as smtpd reads a file: table, and, as OpenSMTPD's, refuses a
    // key given twice; for aliases it also refuses values that are not aliases. Every bad line
    // is named and no db file is written.
    [Fact]
    public async Task Makemap_names_every_bad_line_and_writes_nothing()
    {
        string dir = Directory.CreateTempSubdirectory("smtpd-makemap-").FullName;
        try
        {
            string aliases = Path.Combine(dir, "aliases");
            File.WriteAllText(aliases, "root: bob\nsales: bob\nSales: carol\nabuse: error:55 go away\nteam: bob, carol\n");
            var (code, output) = await OurMakemapAsync("-t", "aliases", aliases);
            Assert.Equal(1, code);
            Assert.Contains($"makemap: {aliases}:3: duplicate entry for sales (first at line 2)", output);
            Assert.Contains($"makemap: {aliases}:4: bad alias value for \"abuse\"", output);
            Assert.DoesNotContain($"{aliases}:5", output);
            Assert.False(File.Exists(aliases + ".db"));

            File.WriteAllText(aliases, "root: bob\nsales\n");
            (code, output) = await OurMakemapAsync("-t", "aliases", aliases);
            Assert.Equal(1, code);
            Assert.Contains($"makemap: {aliases}:2: invalid map entry", output);
            Assert.False(File.Exists(aliases + ".db"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    // The same source through OpenSMTPD's makemap and ours gives the same entries (each dumped by theirs).
    [SkippableFact]
    public async Task Makemap_reads_a_source_as_opensmtpd_makemap_does()
    {
        Skip.IfNot(File.Exists(OpenSmtpdMakemap), "Debian's OpenSMTPD is not extracted in /opt/opensmtpd (bench/install-opensmtpd.sh)");
        string dir = Directory.CreateTempSubdirectory("smtpd-makemap-").FullName;
        try
        {
            string source = Path.Combine(dir, "map");
            File.WriteAllText(source, "# relay secrets\nLabel1 bob:secret\nlabel2\tcarol:other\nlong alice:\\\nsecret\n  indented dave:pw\n\n");
            var (code, output) = await ExternalTool.RunAsync(OpenSmtpdMakemap, ["-o", source + ".theirs.db", source]);
            Assert.True(code == 0, output);
            (code, output) = await OurMakemapAsync("-o", source + ".ours.db", source);
            Assert.True(code == 0, output);
            var (_, theirs) = await ExternalTool.RunAsync(OpenSmtpdMakemap, ["-U", source + ".theirs.db"]);
            var (_, ours) = await ExternalTool.RunAsync(OpenSmtpdMakemap, ["-U", source + ".ours.db"]);
            static string[] Sorted(string dump) => [.. dump.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order()];
            Assert.Equal(Sorted(theirs), Sorted(ours));
            Assert.Contains("long\talice:secret", ours);
            Assert.Contains("indented\tdave:pw", ours);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    const string OpenSmtpdMakemap = "/opt/opensmtpd/usr/sbin/makemap";

    [Fact]
    public async Task Seed_minimalist_setup_with_a_db_alias_table_built_by_our_makemap()
    {
        await using var smtpd = new SmtpdInstance();
        string aliases = Path.Combine(smtpd.Dir, "aliases");
        File.WriteAllText(aliases, $"# aliases(5)\nMAILER-DAEMON: postmaster\npostmaster: {TestUsers.Recipient}\nteam: {TestUsers.Recipient},\n  postmaster\n");
        var (code, output) = await OurMakemapAsync("-t", "aliases", aliases);
        Assert.True(code == 0, output);
        Assert.True(File.Exists(aliases + ".db"));
        // Seed 004's minimalist example, the aliases.db path moved into the test directory.
        smtpd.WriteConfig("""
            listen on 127.0.0.1 port {port}
            table aliases db:{dir}/aliases.db
            accept for local alias <aliases> deliver to maildir "{dir}/maildirs/%{user.username}"
            accept for any relay
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "mailer-daemon@localhost"));
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "team@localhost"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);

        if (File.Exists(OpenSmtpdMakemap))
        {
            // OpenSMTPD's own makemap reads what ours wrote.
            var (_, dump) = await ExternalTool.RunAsync(OpenSmtpdMakemap, ["-U", aliases + ".db"]);
            Assert.Contains($"postmaster\t{TestUsers.Recipient}", dump);
            Assert.Contains($"team\t{TestUsers.Recipient}, postmaster", dump);
        }
    }

    [SkippableFact]
    public async Task A_db_file_made_by_opensmtpd_makemap_is_read()
    {
        Skip.IfNot(File.Exists(OpenSmtpdMakemap), "Debian's OpenSMTPD is not extracted in /opt/opensmtpd (bench/install-opensmtpd.sh)");
        await using var smtpd = new SmtpdInstance();
        string aliases = Path.Combine(smtpd.Dir, "aliases");
        File.WriteAllText(aliases, $"support: {TestUsers.Recipient}\nhelp: support\n");
        var (code, output) = await ExternalTool.RunAsync(OpenSmtpdMakemap, ["-t", "aliases", aliases]);
        Assert.True(code == 0, output);
        smtpd.WriteConfig("""
            listen on 127.0.0.1 port {port}
            table aliases db:{dir}/aliases.db
            action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, "help@localhost"));
        Assert.StartsWith("550 5.1.1", await RcptAsync(smtpd.Port, "nohelp@localhost"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
    }

    [SkippableFact]
    public async Task Postgres_domains_decide_recipients_and_an_outage_gives_451()
    {
        Skip.IfNot(PostgresServer.Available, "PostgreSQL server binaries are not installed (or not root)");
        await using var pg = new PostgresServer();
        await pg.InitAsync();
        await using (var c = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={pg.Port};Username=postgres;Database=postgres"))
        {
            c.Open();
            using var cmd = new Npgsql.NpgsqlCommand("CREATE TABLE domains (domain text); INSERT INTO domains VALUES ('pg.example');", c);
            cmd.ExecuteNonQuery();
        }
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "postgres.conf"), $"""
            conninfo {pg.ConnInfo}
            query_domain SELECT domain FROM domains WHERE domain=$1;
            """);
        smtpd.WriteConfig("""
            table pgdomains postgres:{dir}/postgres.conf
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain <pgdomains> action "local"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@pg.example"));
        Assert.StartsWith("550", await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@other.example"));

        await pg.StopAsync();
        Assert.StartsWith("451 4.3.0", await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@pg.example"));
        await pg.StartAsync();
        Assert.StartsWith("250", await RcptAsync(smtpd.Port, $"{TestUsers.Recipient}@pg.example"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);
    }
}
