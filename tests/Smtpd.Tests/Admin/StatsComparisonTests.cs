using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.SideBySide;

namespace Smtpd.Tests.Admin;

// Issue 18, item 11: `smtpctl show stats` after the same traffic through OpenSMTPD 6.8 and us.
//   client --SMTP over 127.0.0.1--> server --> maildir (smtpdtest)
//   client --SMTP over ::1-------->  server --> maildir
//   sendmail (local enqueue) ------> server --> maildir
//   client --SMTP--> server --relay--> peer (accepts accepted.example)
//   client --SMTP--> server --relay--> peer (550 for refused.example) --> bounce --> maildir
// Every key OpenSMTPD shows, we show, with the same value where both count the same events,
// except the keys of its internal structures we do not have (listed below with the reason).
public sealed class StatsComparisonTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    const string Sender = TestUsers.Ordinary + "@localhost";

    static string Config(int peer) => $$"""
        listen on 127.0.0.1 port {port}
        listen on ::1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "peer" relay host smtp://127.0.0.1:{{peer}}
        match from any for domain "accepted.example" action "peer"
        match from any for domain "refused.example" action "peer"
        match from any for local action "local"
        """;

    /// <summary>
    /// OpenSMTPD's keys for structures of its own processes: its envelope cache in the queue
    /// process, the ramqueue's internal lists, the MTA's relay/route/host/connector/task trees
    /// and the bounce process's sessions. Our components hold no such structures.
    /// </summary>
    static bool Internal(string key) =>
        key.StartsWith("queue.evpcache.", StringComparison.Ordinal) || key.StartsWith("scheduler.ramqueue.", StringComparison.Ordinal)
        || (key.StartsWith("mta.", StringComparison.Ordinal) && key != "mta.session") || key.StartsWith("bounce.", StringComparison.Ordinal);

    /// <summary>Counted the same way by both: must be equal after the same traffic.</summary>
    static readonly string[] SameValue =
    [
        "smtp.session", "smtp.session.inet4", "smtp.session.inet6",
        "scheduler.envelope", "scheduler.envelope.incoming", "scheduler.envelope.inflight",
        "scheduler.delivery.permfail", "queue.bounce",
        "mda.envelope", "mda.pending", "mda.running", "mda.user", "control.session",
    ];

    static async Task SendAsync(int port, string from, string rcpt)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{from}>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: stats\r\n\r\nfor {rcpt}\r\n."));
        await d.CommandAsync("QUIT");
    }

    /// <summary>One message over IPv6 loopback (SmtpDialogue speaks IPv4 only).</summary>
    static async Task SendOverIpv6Async(int port, string from, string rcpt)
    {
        using var client = new System.Net.Sockets.TcpClient(System.Net.Sockets.AddressFamily.InterNetworkV6);
        await client.ConnectAsync(System.Net.IPAddress.IPv6Loopback, port);
        using var stream = client.GetStream();
        using var reader = new StreamReader(stream, System.Text.Encoding.ASCII);
        async Task<string> Reply()
        {
            string? line;
            do line = await reader.ReadLineAsync().WaitAsync(Timeout);
            while (line is { Length: > 3 } && line[3] == '-');
            return line ?? "";
        }
        async Task<string> Command(string text)
        {
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(text + "\r\n"));
            return await Reply();
        }
        Assert.StartsWith("220", await Reply());
        Assert.StartsWith("250", await Command("EHLO client.example"));
        Assert.StartsWith("250", await Command($"MAIL FROM:<{from}>"));
        Assert.StartsWith("250", await Command($"RCPT TO:<{rcpt}>"));
        Assert.StartsWith("354", await Command("DATA"));
        Assert.StartsWith("250", await Command($"Subject: stats\r\n\r\nfor {rcpt} over IPv6\r\n."));
        await Command("QUIT");
    }

    static Dictionary<string, string> Parse(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(l => l.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]);

    static async Task WaitMaildirAsync(string maildirs, int count, Func<string> log)
    {
        string dir = Path.Combine(maildirs, TestUsers.Ordinary, "new");
        for (var deadline = DateTime.UtcNow + Timeout; !Directory.Exists(dir) || Directory.GetFiles(dir).Length < count; await Task.Delay(100))
            Assert.True(DateTime.UtcNow < deadline, $"{count} messages not delivered in {dir}:\n{log()}");
    }

    [SkippableFact]
    public async Task Show_stats_has_every_key_opensmtpd_has_with_the_same_meaning()
    {
        Skip.If(OpenSmtpdInstance.Unavailable is not null, OpenSmtpdInstance.Unavailable);
        Skip.IfNot((await ExternalTool.RunAsync("id", [TestUsers.Ordinary])).Code == 0, $"user {TestUsers.Ordinary} does not exist (tests/install-peers.sh creates it)");
        Skip.IfNot(System.Net.Sockets.Socket.OSSupportsIPv6, "no IPv6 loopback");

        await using var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "accepted.example" action "local"
            """);
        await peer.StartAsync();

        await using var theirs = new OpenSmtpdInstance(Config(peer.Port));
        await theirs.StartAsync();
        await using var ours = new SmtpdInstance(Config(peer.Port));
        await ours.StartAsync();

        foreach (int port in new[] { theirs.Port, ours.Port })
        {
            await SendAsync(port, "someone@example.org", $"{TestUsers.Ordinary}@localhost");
            await SendOverIpv6Async(port, "someone@example.org", $"{TestUsers.Ordinary}@localhost");
            await SendAsync(port, Sender, $"{TestUsers.Ordinary}@accepted.example");
            await SendAsync(port, Sender, "nobody@refused.example");
        }
        var (code, output) = await theirs.CtlAsync("sendmail", "Subject: local\n\nby sendmail\n", $"{TestUsers.Ordinary}@localhost");
        Assert.True(code == 0, output);
        (code, output) = await Smtpctl.RunWithInputAsync(ours, "Subject: local\n\nby sendmail\n", "sendmail", $"{TestUsers.Ordinary}@localhost");
        Assert.True(code == 0, output);

        // Three local messages and one bounce each; two relayed messages at the peer.
        await WaitMaildirAsync(theirs.Maildirs, 4, () => theirs.Log);
        await WaitMaildirAsync(ours.Maildirs, 4, () => ours.Log);
        await WaitMaildirAsync(peer.Maildirs, 2, () => peer.Log);
        await Task.Delay(1000); // the last results reach the schedulers

        var theirStats = Parse((await theirs.CtlAsync("smtpctl", "", "show", "stats")).Output);
        var ourStats = Parse((await Smtpctl.RunAsync(ours, "show", "stats")).Output);
        string report = $"theirs: {string.Join(" ", theirStats.Select(kv => $"{kv.Key}={kv.Value}"))}\nours: {string.Join(" ", ourStats.Select(kv => $"{kv.Key}={kv.Value}"))}";

        var missing = theirStats.Keys.Where(k => !Internal(k) && !ourStats.ContainsKey(k)).ToList();
        Assert.True(missing.Count == 0, $"missing: {string.Join(", ", missing)}\n{report}");
        foreach (string key in SameValue)
            Assert.True(theirStats.GetValueOrDefault(key, "0") == ourStats.GetValueOrDefault(key, "0"), $"{key}: theirs {theirStats.GetValueOrDefault(key)}, ours {ourStats.GetValueOrDefault(key)}\n{report}");
        Assert.Equal("3", ourStats["smtp.session.inet4"]);
        Assert.Equal("1", ourStats["smtp.session.inet6"]);
        // OpenSMTPD's bounce process hands each report to smtpd through a local session, and the
        // envelope it bounced is "delivered" to it; our bounce component queues the report itself.
        long Theirs(string key) => long.Parse(theirStats.GetValueOrDefault(key, "0"));
        long Ours(string key) => long.Parse(ourStats.GetValueOrDefault(key, "0"));
        Assert.True(Theirs("smtp.session.local") == Ours("smtp.session.local") + Ours("queue.bounce"), report);
        Assert.True(Theirs("scheduler.delivery.ok") == Ours("scheduler.delivery.ok") + Ours("queue.bounce"), report);
        Assert.Equal(1, Ours("smtp.session.local")); // sendmail
        // Sorted by key, uptime in its place, as their smtpctl prints it.
        var ourKeys = ourStats.Keys.ToList();
        Assert.Equal(ourKeys.Order(StringComparer.Ordinal), ourKeys);
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "smtpd-stats-comparison.txt"), report + "\n");
    }
}
