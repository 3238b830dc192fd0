using System.Net.Sockets;
using System.Text;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

// Clients that misbehave (seed 003): thousands that connect and say nothing, one that types a
// byte at a time, one that never ends its line or its header, and bytes that are not text.
// Each gets its defined reply, the others are served meanwhile, and the daemon's memory stays
// bounded.
[Collection(ReliabilityCollection.Name)]
public sealed class HostileClientTests(ITestOutputHelper output)
{
    const string Config = """
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        match from any for local action "local"
        """;

    static async Task<string> ReadReplyAsync(NetworkStream s, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var sb = new StringBuilder();
        var buf = new byte[4096];
        while (true)
        {
            int n;
            try { n = await s.ReadAsync(buf, cts.Token); }
            catch (Exception ex) when (ex is IOException or OperationCanceledException) { return sb.ToString(); }
            if (n == 0) return sb.ToString();
            sb.Append(Encoding.Latin1.GetString(buf, 0, n));
            string text = sb.ToString();
            // A complete reply: its last line has a space after the code.
            var lines = text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            if (text.EndsWith("\r\n") && lines.Length > 0 && lines[^1].Length >= 4 && lines[^1][3] == ' ') return text;
        }
    }

    [SkippableFact]
    public async Task Ten_thousand_idle_connections_are_held_others_are_served_and_all_are_freed_at_the_timeout()
    {
        int idle = Figures.Scaled(10_000);
        // The daemon raises its own soft limit to the hard one; the test needs as many for its side.
        int limit = ProcessLimits.RaiseFileLimit();
        Skip.If(limit < idle + 1000, $"this machine allows only {limit} descriptors per process");
        await using var smtpd = new SmtpdInstance(Config);
        smtpd.Environment["SMTPD_SESSION_TIMEOUT"] = "20";
        await smtpd.StartAsync();
        long rssBefore = ProcessLimits.ResidentBytes(smtpd.Process.Id);

        var sockets = new List<Socket>();
        var start = DateTime.UtcNow;
        try
        {
            for (int batch = 0; batch < idle; batch += 500)
            {
                var opened = await Task.WhenAll(Enumerable.Range(0, Math.Min(500, idle - batch)).Select(async _ =>
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await s.ConnectAsync("127.0.0.1", smtpd.Port);
                    return s;
                }));
                sockets.AddRange(opened);
            }
            // Every one of them is a session, greeted: wait (bounded) until the daemon counts them all.
            long sessions = 0;
            (int Code, string Output) shown = (0, "");
            for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline; await Task.Delay(500))
            {
                shown = await Smtpctl.RunAsync(smtpd, "show", "stats");
                sessions = Stat(shown, "smtp.session");
                if (sessions >= idle) break;
            }
            Assert.True(idle == sessions, $"{sessions} of {idle} sessions counted; smtpctl show stats exited {shown.Code}:\n{shown.Output}\n{smtpd.Log[^Math.Min(smtpd.Log.Length, 3000)..]}");
            long rssHeld = ProcessLimits.ResidentBytes(smtpd.Process.Id);

            // Someone else is served meanwhile.
            var result = new LoadResult();
            await LoadClient.SendOnceAsync(smtpd.Port, new TestMessage("while-idle", [$"{TestUsers.Recipient}@localhost"]), result);
            Assert.True(result.Accepted.ContainsKey("while-idle"), "a client was not served while the idle ones were held");
            await Deliveries.WaitAsync([smtpd.Maildirs], c => c.ContainsKey("while-idle"), TimeSpan.FromSeconds(30));

            // At the timeout every idle session is told 421 and closed.
            int told = 0, closed = 0;
            var buffer = new byte[1024];
            await Task.WhenAll(sockets.Select(async s =>
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
                var text = new StringBuilder();
                try
                {
                    while (true)
                    {
                        var mine = new byte[512];
                        int n = await s.ReceiveAsync(mine, SocketFlags.None, cts.Token);
                        if (n == 0) break;
                        text.Append(Encoding.ASCII.GetString(mine, 0, n));
                    }
                    Interlocked.Increment(ref closed);
                    if (text.ToString().Contains("421")) Interlocked.Increment(ref told);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException) { }
            }));
            var freedAfter = DateTime.UtcNow - start;
            long after = Stat(await Smtpctl.RunAsync(smtpd, "show", "stats"), "smtp.session");
            Figures.Record(output, "idle-connections",
                $"held={idle} sessions-counted={sessions} rss-before={rssBefore >> 20}MiB rss-held={rssHeld >> 20}MiB " +
                $"per-idle-session={(rssHeld - rssBefore) / idle}B served-meanwhile=yes closed-at-timeout={closed} told-421={told} " +
                $"sessions-after={after} all-freed-after={freedAfter.TotalSeconds:F0}s");
            Assert.Equal(idle, closed);
            Assert.Equal(idle, told);
            Assert.Equal(0, after);
            Assert.True(rssHeld - rssBefore < 400L << 20, $"{idle} idle sessions took {(rssHeld - rssBefore) >> 20} MiB");
        }
        finally
        {
            foreach (var s in sockets) s.Dispose();
        }
    }

    static long Stat((int Code, string Output) stats, string key)
    {
        foreach (string line in stats.Output.Split('\n'))
            if (line.StartsWith(key + "=", StringComparison.Ordinal)) return long.Parse(line[(key.Length + 1)..]);
        return 0;
    }

    [Fact]
    public async Task Slow_endless_and_malformed_clients_get_their_defined_replies_with_bounded_memory()
    {
        await using var smtpd = new SmtpdInstance(Config);
        await smtpd.StartAsync();
        long rssStart = ProcessLimits.ResidentBytes(smtpd.Process.Id);
        string rcpt = $"{TestUsers.Recipient}@localhost";

        // A slow sender: one byte every 10 ms, a whole transaction. Meanwhile a normal client is served.
        var slow = Task.Run(async () =>
        {
            using var c = new TcpClient();
            await c.ConnectAsync("127.0.0.1", smtpd.Port);
            var s = c.GetStream();
            await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
            string replies = "";
            foreach (string cmd in new[] { "EHLO slow.test\r\n", "MAIL FROM:<slow@client.test>\r\n", $"RCPT TO:<{rcpt}>\r\n", "DATA\r\n",
                         "X-Test-Id: slow\r\nSubject: slowly\r\n\r\ntyped one byte at a time\r\n.\r\n" })
            {
                foreach (byte b in Encoding.ASCII.GetBytes(cmd)) { await s.WriteAsync(new[] { b }); await Task.Delay(10); }
                replies += await ReadReplyAsync(s, TimeSpan.FromSeconds(30));
            }
            return replies;
        });
        var fast = new LoadResult();
        await LoadClient.SendOnceAsync(smtpd.Port, new TestMessage("fast", [rcpt]), fast);
        Assert.True(fast.Accepted.ContainsKey("fast"));
        Assert.False(slow.IsCompleted, "the slow client finished before the fast one: it did not test anything");
        Assert.Contains("250 2.0.0", await slow);

        // Defined replies for what is not a proper command.
        (string Sent, string Expected)[] cases =
        [
            ("NOOP\0\r\n", "500 5.5.2 Syntax error: NUL byte"),
            ("MAIL FROM:<\u00ff\u00fe@client.test>\r\n", "500 5.5.2 Syntax error: command is not valid UTF-8"), // Latin-1 bytes FF FE
            ("EHLO \u00ff\r\n", "500 5.5.2 Syntax error: command is not valid UTF-8"),
            ("NOOP\rX\r\n", "500 5.5.1"),
            ("NOOP\n", "250 2.0.0"), // a bare LF ends a command line, as in OpenSMTPD (never DATA: see DataReaderTests)
            ("BDAT 10 LAST\r\n", "500 5.5.1"),
            ("XYZZY\r\n", "500 5.5.1"),
            ("MAIL FROM:<a@client.test> FOO=bar\r\n", "555 5.5.4"),
        ];
        foreach (var (sent, expected) in cases)
        {
            using var c = new TcpClient();
            await c.ConnectAsync("127.0.0.1", smtpd.Port);
            var s = c.GetStream();
            await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
            await s.WriteAsync(Encoding.ASCII.GetBytes("EHLO client.test\r\n"));
            await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
            await s.WriteAsync(Encoding.Latin1.GetBytes(sent));
            string reply = await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
            Assert.True(reply.StartsWith(expected), $"{sent.Trim()}: expected {expected}, got {reply}");
            // The session goes on after the refusal.
            await s.WriteAsync(Encoding.ASCII.GetBytes("NOOP\r\n"));
            Assert.StartsWith("250", await ReadReplyAsync(s, TimeSpan.FromSeconds(10)));
        }

        // An endless line: 500 5.5.2 once it is too long, and the session ends; nothing is kept of it.
        string endlessLine;
        using (var c = new TcpClient())
        {
            await c.ConnectAsync("127.0.0.1", smtpd.Port);
            var s = c.GetStream();
            await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
            var chunk = Encoding.ASCII.GetBytes(new string('A', 64 * 1024));
            try { for (int i = 0; i < 16 * 50; i++) await s.WriteAsync(chunk); } // up to 50 MB: the server stops reading long before
            catch (IOException) { }
            endlessLine = await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
        }
        Assert.StartsWith("500 5.5.2 Command line too long", endlessLine);

        // Endless headers: 40 MB of header lines. They go to disk, not to memory, and the message
        // is refused at its end for its size.
        long rssPeak = 0;
        string endlessHeaders;
        using (var c = new TcpClient())
        {
            await c.ConnectAsync("127.0.0.1", smtpd.Port);
            var s = c.GetStream();
            await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
            foreach (string cmd in new[] { "EHLO client.test\r\n", "MAIL FROM:<endless@client.test>\r\n", $"RCPT TO:<{rcpt}>\r\n", "DATA\r\n" })
            {
                await s.WriteAsync(Encoding.ASCII.GetBytes(cmd));
                await ReadReplyAsync(s, TimeSpan.FromSeconds(10));
            }
            var lines = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 800).Select(i => $"X-Endless-{i}: {new string('h', 60)}\r\n")));
            for (long sent = 0; sent < 40L << 20; sent += lines.Length)
            {
                await s.WriteAsync(lines);
                if (sent % (4 << 20) < lines.Length) rssPeak = Math.Max(rssPeak, ProcessLimits.ResidentBytes(smtpd.Process.Id));
            }
            await s.WriteAsync(Encoding.ASCII.GetBytes("\r\nbody\r\n.\r\n"));
            endlessHeaders = await ReadReplyAsync(s, TimeSpan.FromSeconds(30));
        }
        Assert.Matches("^5(52|54) ", endlessHeaders);
        Assert.Empty(Directory.GetDirectories(Path.Combine(smtpd.Spool, "incoming")));

        long rssEnd = ProcessLimits.ResidentBytes(smtpd.Process.Id);
        Figures.Record(output, "hostile-clients",
            $"slow-sender=served fast-client-meanwhile=served defined-replies={cases.Length}/{cases.Length} endless-line=\"{endlessLine.Trim()}\" " +
            $"endless-headers=\"{endlessHeaders.Trim()}\" rss-start={rssStart >> 20}MiB rss-peak-during-40MB-header={rssPeak >> 20}MiB rss-end={rssEnd >> 20}MiB");
        Assert.True(rssPeak - rssStart < 100L << 20, $"memory grew by {(rssPeak - rssStart) >> 20} MiB while receiving a 40 MB header");
        Assert.False(smtpd.Process.HasExited);
    }
}
