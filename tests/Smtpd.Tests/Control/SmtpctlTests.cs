using System.Text.RegularExpressions;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Control;

// smtpctl against a running daemon, each verb checked by what it prints and what it does.
public sealed class SmtpctlTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static async Task<SmtpdInstance> StartAsync(int peerPort, Action<SmtpdInstance>? prepare = null)
    {
        var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "out" relay host smtp://127.0.0.1:{{peerPort}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        prepare?.Invoke(smtpd);
        await smtpd.StartAsync();
        return smtpd;
    }

    static async Task<string> SendAsync(int port, string rcpt, string subject = "test")
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync("MAIL FROM:<alice@example.org>");
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        string reply = await d.CommandAsync($"Subject: {subject}\r\n\r\nbody\r\n.");
        Assert.StartsWith("250", reply);
        return reply.Split(' ')[2]; // "250 2.0.0 MSGID Message accepted"
    }

    static Task WaitAsync(Func<Task<bool>> condition, string what) => Poll.UntilAsync(condition, what, Timeout);

    [Fact]
    public async Task Show_queue_lists_a_deferred_envelope_once_and_schedule_sends_it()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = await StartAsync(peer.Port);
        string msgid = await SendAsync(smtpd.Port, "bob@far.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);

        var queue = await Smtpctl.PendingQueueAsync(smtpd);
        var line = Assert.Single(queue);
        Assert.StartsWith(msgid, line[0]);
        Assert.Equal(["mta", "alice@example.org", "bob@far.example"], new[] { line[2], line[4], line[5] });
        Assert.Equal("pending", line[11]);
        Assert.Equal("1", line[10]); // one try so far
        Assert.Contains("451 4.3.0 Try again later", line[13]);

        var (code, envelope) = await Smtpctl.RunAsync(smtpd, "show", "envelope", line[0]);
        Assert.Equal(0, code);
        Assert.Contains("rcpt: bob@far.example", envelope);
        (code, var message) = await Smtpctl.RunAsync(smtpd, "show", "message", msgid);
        Assert.Equal(0, code);
        Assert.Contains("Subject: test", message);

        peer.Accepting = true;
        (code, var output) = await Smtpctl.RunAsync(smtpd, "schedule", msgid);
        Assert.Equal(0, code);
        Assert.Equal("1 envelope scheduled", output.Trim());
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "delivery after schedule");
        await WaitAsync(async () => (await Smtpctl.QueueAsync(smtpd)).Length == 0, "queue empty");
    }

    [Fact]
    public async Task Remove_by_envelope_id_and_by_message_id()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = await StartAsync(peer.Port);
        string first = await SendAsync(smtpd.Port, "one@far.example");
        string second = await SendAsync(smtpd.Port, "two@far.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout, count: 2);

        string evpid = (await Smtpctl.QueueAsync(smtpd)).Single(l => l[0].StartsWith(first))[0];
        var (code, output) = await Smtpctl.RunAsync(smtpd, "remove", evpid);
        Assert.Equal((0, "1 envelope removed"), (code, output.Trim()));
        (code, output) = await Smtpctl.RunAsync(smtpd, "remove", second);
        Assert.Equal((0, "1 envelope removed"), (code, output.Trim()));
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
        await WaitAsync(() => Task.FromResult(!Directory.EnumerateFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories).Any()), "queue files gone");

        // As OpenSMTPD's parser: an id that is not 8 or 16 hexadecimal digits gets the possibilities.
        (code, output) = await Smtpctl.RunAsync(smtpd, "remove", "nothex!!");
        Assert.Equal((255, "possibilities are:\nremove <evpid>\nremove <msgid>\nremove all"), (code, output.Trim()));
        // As OpenSMTPD's parser: exit 255 and the words that could come there.
        (code, output) = await Smtpctl.RunAsync(smtpd, "frobnicate");
        Assert.Equal(255, code);
        Assert.StartsWith("possibilities are:\ndiscover\npause\nresume\nshow\n", output);
        (code, output) = await Smtpctl.RunAsync(smtpd, "show", "frobs");
        Assert.Equal(255, code);
        Assert.Contains("\nshow hoststats\n", output);
    }

    [Fact]
    public async Task A_command_it_cannot_read_gets_its_possibilities_even_when_smtpd_is_not_running()
    {
        // As OpenSMTPD 6.8's smtpctl, which parses before it connects: `smtpctl show` there prints
        // "possibilities are:" and the show verbs in this order, exit 255, running or not.
        string nowhere = Path.Combine(Path.GetTempPath(), $"no-smtpd-{Guid.NewGuid():N}.sock");
        async Task<(int, string)> Run(params string[] args)
        {
            var psi = TestBinaries.StartInfo("smtpctl", args);
            psi.RedirectStandardOutput = psi.RedirectStandardError = true;
            psi.Environment["SMTPD_SOCKET"] = nowhere;
            using var p = System.Diagnostics.Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(Timeout);
            await p.WaitForExitAsync(cts.Token);
            return (p.ExitCode, await stdout + await stderr);
        }

        var (code, output) = await Run("show");
        Assert.Equal(255, code);
        Assert.StartsWith("possibilities are:\nshow mta\nshow envelope\nshow hoststats\nshow message\nshow queue\nshow hosts\nshow relays\nshow routes\nshow stats\nshow status\n", output);
        (code, output) = await Run("resume", "envelope");
        Assert.Equal((255, "possibilities are:\nresume envelope <evpid>\nresume envelope <msgid>\nresume envelope all"), (code, output.Trim()));
        (code, output) = await Run("frobnicate");
        Assert.Equal(255, code);
        Assert.StartsWith("possibilities are:\ndiscover\npause\nresume\nshow\n", output);
        // A whole command (-j included) does need the daemon.
        (code, output) = await Run("show", "queue", "-j");
        Assert.Equal(1, code);
        Assert.Contains("smtpctl: smtpd doesn't seem to be running\n", output);
    }

    [Fact]
    public async Task Pause_smtp_refuses_new_sessions_with_421_until_resumed()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = await StartAsync(peer.Port);
        var paused = await Smtpctl.RunAsync(smtpd, "pause", "smtp");
        Assert.True(paused.Code == 0, paused.Output);
        Assert.Contains("SMTP paused", (await Smtpctl.RunAsync(smtpd, "show", "status")).Output);
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
            Assert.StartsWith("421", await d.ReadReplyAsync());
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "smtp")).Code);
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
            Assert.StartsWith("220", await d.ReadReplyAsync());
    }

    [Fact]
    public async Task Pause_mta_holds_relayed_mail_until_resumed()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        await using var smtpd = await StartAsync(peer.Port);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mta")).Code);
        Assert.Contains("MTA paused", (await Smtpctl.RunAsync(smtpd, "show", "status")).Output);
        await SendAsync(smtpd.Port, "held@far.example");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(0, peer.Accepted);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "mta")).Code);
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "delivery after resume mta");
    }

    [Fact]
    public async Task Pause_envelope_holds_an_envelope_a_message_or_all_until_resumed()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = await StartAsync(peer.Port);
        string first = await SendAsync(smtpd.Port, "one@far.example");
        string second = await SendAsync(smtpd.Port, "two@far.example");
        await SendAsync(smtpd.Port, "three@far.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout, count: 3);

        string evpid = (await Smtpctl.QueueAsync(smtpd)).Single(l => l[0].StartsWith(first))[0];
        Assert.Equal((0, "1 envelope paused"), Trimmed(await Smtpctl.RunAsync(smtpd, "pause", "envelope", evpid)));
        Assert.Equal((0, "1 envelope paused"), Trimmed(await Smtpctl.RunAsync(smtpd, "pause", "envelope", second)));
        // OpenSMTPD's listing shows a paused envelope by the "suspend" flag.
        var flags = (await Smtpctl.QueueAsync(smtpd)).ToDictionary(l => l[5], l => l[3].Split(','));
        Assert.Contains("suspend", flags["one@far.example"]);
        Assert.Contains("suspend", flags["two@far.example"]);
        Assert.DoesNotContain("suspend", flags["three@far.example"]);

        // Only the envelope left running goes when the peer accepts and everything is scheduled.
        peer.Accepting = true;
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "schedule", "all")).Code);
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "the running envelope delivered");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, peer.Accepted);
        Assert.Equal(["one@far.example", "two@far.example"], (await Smtpctl.QueueAsync(smtpd)).Select(l => l[5]).Order());

        Assert.Equal((0, "2 envelopes resumed"), Trimmed(await Smtpctl.RunAsync(smtpd, "resume", "envelope", "all")));
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "schedule", "all")).Code);
        await WaitAsync(() => Task.FromResult(peer.Accepted == 3), "the resumed envelopes delivered");
        await WaitAsync(async () => (await Smtpctl.QueueAsync(smtpd)).Length == 0, "queue empty");
    }

    static (int, string) Trimmed((int Code, string Output) r) => (r.Code, r.Output.Trim());

    [Fact]
    public async Task An_envelope_found_corrupt_when_scheduled_is_set_aside_and_the_rest_is_delivered()
    {
        await using var peer = new DeferringPeer();
        await using var smtpd = await StartAsync(peer.Port);
        string bad = await SendAsync(smtpd.Port, "bad@far.example");
        await SendAsync(smtpd.Port, "good@far.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout, count: 2);
        string evpid = (await Smtpctl.QueueAsync(smtpd)).Single(l => l[0].StartsWith(bad))[0];
        string file = Directory.EnumerateFiles(Path.Combine(smtpd.Spool, "queue"), evpid, SearchOption.AllDirectories).Single();
        File.WriteAllText(file, "version: 3\n\0\0 garbage, not an envelope\n");

        peer.Accepting = true;
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "schedule", "all")).Code);
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "the good envelope delivered");
        await smtpd.WaitForLogAsync($"envelope {evpid} is corrupt, moved to corrupt/", Timeout);
        Assert.False(File.Exists(file));
        Assert.True(File.Exists(Path.Combine(smtpd.Spool, "corrupt", evpid)));
        await WaitAsync(async () => (await Smtpctl.QueueAsync(smtpd)).Length == 0, "nothing left scheduled");
        Assert.Equal(1, peer.Accepted);
    }

    [Fact]
    public async Task Show_stats_counts_five_messages()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        await using var smtpd = await StartAsync(peer.Port);
        var before = Stats((await Smtpctl.RunAsync(smtpd, "show", "stats")).Output);
        for (int i = 0; i < 5; i++) await SendAsync(smtpd.Port, $"r{i}@far.example");
        await WaitAsync(() => Task.FromResult(peer.Accepted == 5), "five deliveries");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout, count: 5);
        await Task.Delay(200);
        var after = Stats((await Smtpctl.RunAsync(smtpd, "show", "stats")).Output);
        long Delta(string key) => after.GetValueOrDefault(key) - before.GetValueOrDefault(key);
        Assert.Equal(5, Delta("smtp.message"));
        Assert.Equal(5, Delta("smtp.session.connect"));
        Assert.Equal(5, Delta("scheduler.delivery.ok"));
        Assert.Equal(5, Delta("scheduler.envelope.enqueued"));
        Assert.Equal(0, after.GetValueOrDefault("scheduler.envelope.incoming")); // a gauge, as OpenSMTPD's
        Assert.Equal(0, after.GetValueOrDefault("scheduler.envelope"));
    }

    static Dictionary<string, long> Stats(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(l => l.Split('=', 2)).Where(kv => kv.Length == 2 && long.TryParse(kv[1], out _))
        .ToDictionary(kv => kv[0], kv => long.Parse(kv[1]));

    [Fact]
    public async Task Sqlite_stats_survive_a_restart()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        await using var smtpd = await StartAsync(peer.Port, s => s.Environment["SMTPD_STATS"] = "sqlite");
        for (int i = 0; i < 3; i++) await SendAsync(smtpd.Port, $"r{i}@far.example");
        await WaitAsync(() => Task.FromResult(peer.Accepted == 3), "three deliveries");
        await smtpd.StopAsync();
        await smtpd.StartAsync();
        var stats = Stats((await Smtpctl.RunAsync(smtpd, "show", "stats")).Output);
        Assert.Equal(3, stats["smtp.message"]);
        Assert.Equal(3, stats["scheduler.delivery.ok"]);
    }

    [Fact]
    public async Task Trace_adds_lines_to_the_log_at_runtime()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        await using var smtpd = await StartAsync(peer.Port);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost", "before trace");
        Assert.DoesNotContain("trace: smtp:", smtpd.Log);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "trace", "smtp")).Code);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost", "traced");
        await smtpd.WaitForLogAsync("trace: smtp:", Timeout);
        await smtpd.WaitForLogAsync($"<<< RCPT TO:<{TestUsers.Recipient}@localhost>", Timeout);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "untrace", "smtp")).Code);
        // The traced session's last lines (its QUIT) may still be on their way to the log: counted
        // once the count has held still for 300 ms.
        int traced = SmtpdInstance.Occurrences(smtpd.Log, "trace: smtp:");
        for (int i = 0; i < 50; i++)
        {
            await Task.Delay(300);
            int now = SmtpdInstance.Occurrences(smtpd.Log, "trace: smtp:");
            if (now == traced) break;
            traced = now;
        }
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost", "after untrace");
        await Task.Delay(300);
        Assert.Equal(traced, SmtpdInstance.Occurrences(smtpd.Log, "trace: smtp:"));
        Assert.Equal(1, (await Smtpctl.RunAsync(smtpd, "trace", "nonsense")).Code);
    }

    [Fact]
    public async Task Monitor_counts_fifty_messages()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        await using var smtpd = await StartAsync(peer.Port);
        var psi = TestBinaries.StartInfo("smtpctl", "monitor");
        psi.RedirectStandardOutput = true;
        psi.Environment["SMTPD_SOCKET"] = smtpd.ControlSocket;
        using var monitor = System.Diagnostics.Process.Start(psi)!;
        var lines = new List<string>();
        monitor.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        monitor.BeginOutputReadLine();
        await WaitAsync(() => { lock (lines) return Task.FromResult(lines.Count >= 3); }, "monitor header and a line");

        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            for (int i = 0; i < 50; i++)
            {
                await d.CommandAsync("MAIL FROM:<alice@example.org>");
                await d.CommandAsync($"RCPT TO:<m{i}@far.example>");
                await d.CommandAsync("DATA");
                Assert.StartsWith("250", await d.CommandAsync("Subject: monitored\r\n\r\nbody\r\n."));
            }
        }
        await WaitAsync(() => Task.FromResult(peer.Accepted == 50), "fifty deliveries");
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // two more monitor lines
        monitor.Kill();
        await monitor.WaitForExitAsync();

        // Columns: curr conn disc  curr enq deq  ok tmpfail prmfail loop  expire remove bounce
        List<long[]> rows;
        lock (lines) rows = lines.Where(l => l.Length > 0 && char.IsAsciiDigit(l.TrimStart()[0]))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray()).ToList();
        Assert.Equal(1, rows.Sum(r => r[1]));  // one client connection
        Assert.Equal(50, rows.Sum(r => r[4])); // 50 envelopes enqueued
        Assert.Equal(50, rows.Sum(r => r[6])); // 50 delivered
        Assert.Equal(0, rows[^1][3]);          // none left in the queue
    }

    [Fact]
    public async Task Profile_pushes_handler_timings_into_stats()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        await using var smtpd = await StartAsync(peer.Port);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "profile", "all")).Code);
        await SendAsync(smtpd.Port, "p@far.example");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost");
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "delivery");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout); // the mta line quotes it, the mda line does not
        await smtpd.WaitForLogAsync("result=Ok", Timeout);
        await Task.Delay(200);
        var (_, stats) = await Smtpctl.RunAsync(smtpd, "show", "stats");
        // Each component's handlers: SMTP commands, queue, scheduler, MTA, MDA messages.
        foreach (var key in new[] { "profiling.smtp.MAIL=", "profiling.smtp.DATA=", "profiling.queue.QueueDeliver=",
                     "profiling.scheduler.SchedulerCommit=", "profiling.mta.MtaTransfer=", "profiling.mda.MdaDeliver=" })
            Assert.Contains(key, stats);
        Assert.DoesNotContain("profiling.smtp.unknown", stats);

        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "unprofile", "all")).Code);
        var (code, output) = await Smtpctl.RunAsync(smtpd, "profile", "nonsense");
        Assert.Equal(1, code);
        Assert.Contains("invalid profiling subsystem", output);
    }

    [Fact]
    public async Task Show_routes_hosts_and_relays_show_next_hops_and_penalties()
    {
        await using var peer = new DeferringPeer { Accepting = true };
        int dead = SmtpdInstance.FreePort();
        await using var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            action "dead" relay host smtp://127.0.0.2:{{dead}}
            match from local for domain "dead.example" action "dead"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, "a@far.example");
        await SendAsync(smtpd.Port, "b@dead.example");
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "delivery");
        await smtpd.WaitForLogAsync("penalized", Timeout);
        var (code, routes) = await Smtpctl.RunAsync(smtpd, "show", "routes");
        Assert.Equal(0, code);
        // OpenSMTPD's lines: "ID. [] <-> ADDRESS (NAME) FLAGS nconn= nerror= penalty= timeout=".
        var lines = routes.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\d+\. \[\] <-> 127\.0\.0\.1 \(localhost\) ---- nconn=1 nerror=0 penalty=0 timeout=-$"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\d+\. \[\] <-> 127\.0\.0\.2 ND-- nconn=0 nerror=1 penalty=1 timeout=\d+s$"));
        // The route (action and domain) that waits: its failures, the wait, and its id for resume route.
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\d+\. \[\] <-> dead\.example \(action dead\) -D-- nconn=0 nerror=1 penalty=1 timeout=\d+s$"));
        // "ADDRESS NAME refcount= nconn= lastconn=": lastconn only where a session was opened.
        var (_, hosts) = await Smtpctl.RunAsync(smtpd, "show", "hosts");
        Assert.Matches(@"(?m)^127\.0\.0\.1 localhost refcount=1 nconn=1 lastconn=\d+s$", hosts);
        Assert.Matches(@"(?m)^127\.0\.0\.2 127\.0\.0\.2 refcount=1 nconn=0 lastconn=-$", hosts);
        // OpenSMTPD's relays, each with its connector: the live one with its session, the dead one waiting.
        var (_, relays) = await Smtpctl.RunAsync(smtpd, "show", "relays");
        Assert.Matches($@"(?m)^\[relay:127\.0\.0\.1,port={peer.Port},smtp,mx\] refcount=1 ntask=0 nconn=1 lastconn=\d+s timeout=- wait=\n  connector \[\] refcount=0 nconn=1 lastconn=\d+s timeout=- flags=$", relays);
        Assert.Matches($@"(?m)^\[relay:127\.0\.0\.2,port={dead},smtp,mx\] refcount=0 ntask=0 nconn=0 lastconn=- timeout=\d+s wait=connector\n  connector \[\] refcount=0 nconn=0 lastconn=- timeout=\d+s flags=NEW,ERROR_ROUTE_NET$", relays);
    }

    [Fact]
    public async Task Update_table_reloads_a_file_table_and_log_verbose_adds_debug_lines()
    {
        var smtpd = new SmtpdInstance("""
            table domains file:{dir}/domains
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain <domains> action "local"
            """);
        await using var _ = smtpd;
        File.WriteAllText(Path.Combine(smtpd.Dir, "domains"), "one.example\n");
        await smtpd.StartAsync();
        async Task<string> Rcpt(string to)
        {
            await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            await d.CommandAsync("MAIL FROM:<alice@example.org>");
            return await d.CommandAsync($"RCPT TO:<{to}>");
        }
        Assert.StartsWith("250", await Rcpt($"{TestUsers.Recipient}@one.example"));
        Assert.StartsWith("550", await Rcpt($"{TestUsers.Recipient}@two.example"));
        File.WriteAllText(Path.Combine(smtpd.Dir, "domains"), "one.example\ntwo.example\n");
        Assert.StartsWith("550", await Rcpt($"{TestUsers.Recipient}@two.example")); // not before the update
        var (code, output) = await Smtpctl.RunAsync(smtpd, "update", "table", "domains");
        Assert.Equal((0, "command succeeded"), (code, output.Trim()));
        Assert.StartsWith("250", await Rcpt($"{TestUsers.Recipient}@two.example"));
        Assert.Equal(1, (await Smtpctl.RunAsync(smtpd, "update", "table", "nosuchtable")).Code);

        Assert.DoesNotContain("debug: ", smtpd.Log);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "log", "verbose")).Code);
        await Smtpctl.RunAsync(smtpd, "show", "status");
        await smtpd.WaitForLogAsync("debug: control: uid=", Timeout);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "log", "brief")).Code);
    }

    [Fact]
    public async Task A_transfer_cut_mid_data_is_retried_and_delivered_exactly_once()
    {
        await using var peer = new DeferringPeer { Accepting = true, DropNextData = true };
        await using var smtpd = await StartAsync(peer.Port);
        await SendAsync(smtpd.Port, "once@far.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        Assert.Equal(0, peer.Accepted);
        Assert.Equal("1 envelope scheduled", (await Smtpctl.RunAsync(smtpd, "schedule", "all")).Output.Trim());
        await WaitAsync(() => Task.FromResult(peer.Accepted == 1), "delivery on retry");
        await WaitAsync(async () => (await Smtpctl.QueueAsync(smtpd)).Length == 0, "queue empty");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(1, peer.Accepted);
    }
}
