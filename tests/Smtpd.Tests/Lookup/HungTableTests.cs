using System.Diagnostics;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Lookup;

// One table server hangs while 20 sessions ask it (RCPT x@hung.example, a domain lookup) and
// 200 others are served for fast.example (an inline rule, no table). A lookup waits for its
// answer without a thread, so the hung table slows no other session; the hung lookups end with
// 451 once the table's timeout has passed.
public sealed class HungTableTests
{
    const int FastSessions = 200, Concurrency = 20, HungSessions = 20;
    static readonly TimeSpan TableTimeout = TimeSpan.FromSeconds(10);

    // Goes through the handshake, then notes each request in a file and never answers it.
    const string NeverAnswers = """
        import sys
        for line in sys.stdin:
            line = line.rstrip('\n')
            if line == 'config|ready':
                print('register|domain\nregister|ready', flush=True)
            elif not line.startswith('config|'):
                with open(sys.argv[1], 'a') as f:
                    f.write(line + '\n')
        """;

    /// <summary>One session up to RCPT; returns the slowest of its replies (banner included) and the RCPT reply.</summary>
    static async Task<(TimeSpan Slowest, string Rcpt)> SessionAsync(int port, string rcpt)
    {
        var slowest = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        await using var d = await SmtpDialogue.ConnectAsync(port);
        async Task<string> Timed(Func<Task<string>> step)
        {
            clock.Restart();
            string reply = await step();
            if (clock.Elapsed > slowest) slowest = clock.Elapsed;
            return reply;
        }
        Assert.StartsWith("220", await Timed(async () => await d.ReadReplyAsync() ?? "(closed)"));
        Assert.StartsWith("250", await Timed(() => d.CommandAsync("EHLO client.example")));
        Assert.StartsWith("250", await Timed(() => d.CommandAsync("MAIL FROM:<alice@client.example>")));
        string reply = await Timed(() => d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await Timed(() => d.CommandAsync("QUIT"));
        return (slowest, reply);
    }

    /// <summary>200 sessions for the fast domain, 20 at a time; the slowest reply of all.</summary>
    static async Task<TimeSpan> FastRoundAsync(int port)
    {
        using var turns = new SemaphoreSlim(Concurrency);
        var sessions = Enumerable.Range(0, FastSessions).Select(async i =>
        {
            await turns.WaitAsync();
            try
            {
                var (slowest, rcpt) = await SessionAsync(port, $"{TestUsers.Recipient}+{i}@fast.example");
                Assert.StartsWith("250", rcpt);
                return slowest;
            }
            finally { turns.Release(); }
        });
        return (await Task.WhenAll(sessions)).Max();
    }

    /// <summary>Sessions whose RCPT asks the hung table; each gives its RCPT reply and when it came.</summary>
    static List<Task<(string Reply, TimeSpan After)>> StartHungSessions(int port)
    {
        var clock = Stopwatch.StartNew();
        return Enumerable.Range(0, HungSessions).Select(i => Task.Run(async () =>
        {
            await using var d = await SmtpDialogue.ConnectAsync(port);
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            await d.CommandAsync("MAIL FROM:<alice@client.example>");
            await d.SendAsync($"RCPT TO:<user{i}@hung.example>\r\n");
            string reply = await d.ReadReplyAsync(TimeSpan.FromSeconds(60)) ?? "(closed)";
            return (reply, clock.Elapsed);
        })).ToList();
    }

    /// <summary>Generous, and still well under a table's timeout: a session held up behind a hung table would wait for that timeout.</summary>
    static TimeSpan BoundFrom(TimeSpan baseline)
    {
        var bound = TimeSpan.FromTicks(Math.Max(4 * baseline.Ticks, TimeSpan.FromSeconds(2).Ticks));
        Assert.True(bound < TableTimeout / 2, $"the baseline ({baseline.TotalMilliseconds:0} ms) is too slow to tell a held-up session");
        return bound;
    }

    /// <summary>
    /// The table server behind <paramref name="table"/> answers, then is stopped while 20 lookups
    /// wait on it: the 200 fast sessions keep their usual reply times, each hung lookup ends in 451
    /// no sooner than <paramref name="earliest"/>, and once the server runs again the table answers.
    /// </summary>
    static async Task ShowStoppedServerAsync(SmtpdInstance smtpd, string table, string server,
        Func<Task> stop, Func<Task> resume, TimeSpan earliest)
    {
        smtpd.WriteConfig($$"""
            table hung {{table}}
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "fast.example" action "local"
            match from any for domain <hung> action "local"
            """);
        await smtpd.StartAsync();
        // The table's connection is made while the server answers (no such domain: 550).
        Assert.StartsWith("550", (await SessionAsync(smtpd.Port, "user@hung.example")).Rcpt);
        var bound = BoundFrom(await FastRoundAsync(smtpd.Port));

        await stop();
        var hung = StartHungSessions(smtpd.Port);
        await Task.Delay(TimeSpan.FromSeconds(1)); // their RCPTs are in
        var loaded = await FastRoundAsync(smtpd.Port);
        Assert.True(hung.All(h => !h.IsCompleted), "the hung lookups ended before the fast round did: nothing was shown");
        Assert.True(loaded < bound, $"with a stopped {server} server the slowest reply took {loaded.TotalMilliseconds:0} ms (bound {bound.TotalMilliseconds:0} ms)");

        foreach (var (reply, after) in await Task.WhenAll(hung))
        {
            Assert.StartsWith("451", reply);
            Assert.InRange(after, earliest, TimeSpan.FromSeconds(40));
        }
        await resume();
        Assert.StartsWith("550", (await SessionAsync(smtpd.Port, "user@hung.example")).Rcpt);
    }

    // Path: 20 clients --RCPT--> smtpd --domain search--> slapd stopped with SIGSTOP (it accepts
    // connections and never answers); meanwhile 200 clients --RCPT @fast.example--> smtpd.
    [SkippableFact]
    public async Task A_stopped_ldap_server_slows_no_other_session_and_its_lookups_end_in_451()
    {
        Table.SlapdServer.SkipUnlessAvailable();
        await using var ldap = new Table.SlapdServer();
        await ldap.InitAsync();
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "ldap.conf"), $"""
            url: {ldap.Url}
            username: {Table.SlapdServer.RootDn}
            password: {Table.SlapdServer.RootPassword}
            basedn: {Table.SlapdServer.Suffix}
            domain_filter: (&(objectClass=domain)(dc=%s))
            domain_attributes: dc
            """);
        // The search under way gives up after 10 s, those waiting for their turn at the lookup's deadline (22 s).
        await ShowStoppedServerAsync(smtpd, "ldap:{dir}/ldap.conf", "ldap", ldap.PauseAsync, ldap.ResumeAsync,
            TableTimeout - TimeSpan.FromSeconds(1));
    }

    // Path: 20 clients --RCPT--> smtpd --domain query--> PostgreSQL stopped with SIGSTOP (postmaster
    // and backends); meanwhile 200 clients --RCPT @fast.example--> smtpd.
    [SkippableFact]
    public async Task A_stopped_postgres_server_slows_no_other_session_and_its_lookups_end_in_451()
    {
        Skip.IfNot(Table.PostgresServer.Available, "PostgreSQL server binaries are not installed (or not root)");
        await using var pg = new Table.PostgresServer();
        await pg.InitAsync();
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "postgres.conf"), $"""
            conninfo {pg.ConnInfo}
            query_domain SELECT d FROM (VALUES ('known.example')) AS domains(d) WHERE d=$1;
            """);
        // The query on the pooled connection gives up after its 10 s command timeout, new connections after the 5 s connect timeout.
        await ShowStoppedServerAsync(smtpd, "postgres:{dir}/postgres.conf", "postgres", pg.PauseAsync, pg.ResumeAsync,
            TimeSpan.FromSeconds(4));
    }

    // Path: 20 clients --RCPT--> smtpd --domain lookup--> proc table that never answers;
    // meanwhile 200 clients --RCPT @fast.example--> smtpd.
    [SkippableFact]
    public async Task A_proc_table_that_never_answers_slows_no_other_session_and_its_lookups_end_in_451()
    {
        Skip.IfNot(ExternalTool.Exists("python3"), "python3 is not installed");
        await using var smtpd = new SmtpdInstance();
        string script = Path.Combine(smtpd.Dir, "hung.py"), asked = Path.Combine(smtpd.Dir, "asked");
        File.WriteAllText(script, NeverAnswers);
        File.WriteAllText(asked, "");
        File.SetUnixFileMode(asked, (UnixFileMode)0b110_110_110); // the table runs as the daemon's user
        smtpd.WriteConfig($$"""
            table hung "proc:python3 {{script}} {{asked}}"
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "fast.example" action "local"
            match from any for domain <hung> action "local"
            """);
        await smtpd.StartAsync();

        var baseline = await FastRoundAsync(smtpd.Port);
        var bound = BoundFrom(baseline);

        var hung = StartHungSessions(smtpd.Port);
        // Every hung session's lookup has reached the table program before the fast round starts.
        await Control.Poll.UntilAsync(() => Task.FromResult(File.ReadAllLines(asked).Length >= HungSessions),
            $"the table program did not get all {HungSessions} requests", TimeSpan.FromSeconds(10));

        var loaded = await FastRoundAsync(smtpd.Port);
        Assert.True(hung.All(h => !h.IsCompleted), "the hung lookups ended before the fast round did: nothing was shown");
        Assert.True(loaded < bound, $"with a hung table the slowest reply took {loaded.TotalMilliseconds:0} ms (baseline {baseline.TotalMilliseconds:0} ms, bound {bound.TotalMilliseconds:0} ms)");

        foreach (var (reply, after) in await Task.WhenAll(hung))
        {
            Assert.StartsWith("451", reply);
            Assert.InRange(after, TableTimeout - TimeSpan.FromSeconds(1), TableTimeout + TimeSpan.FromSeconds(15));
        }
    }
}
