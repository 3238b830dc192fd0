using System.Collections.Concurrent;
using System.Diagnostics;
using Smtpd.Tests.Control;

namespace Smtpd.Tests.EndToEnd;

// Two reloads while clients open sessions back to back, for a local domain and for a relayed one
// (relayed to a second smtpd): no connection is refused, every accepted message arrives, and each
// is routed by the configuration in force when its session started.
public sealed class ReloadUnderLoadTests
{
    static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(120);
    const int Clients = 4;

    /// <summary>Generation N delivers local mail into maildirs/genN and relays with HELO genN.example.</summary>
    static string Config(int generation, int peerPort) => $$"""
        listen on 127.0.0.1 port {port}
        action "local-{{generation}}" maildir "{dir}/maildirs/gen{{generation}}/%{user.username}"
        action "relay-{{generation}}" relay host smtp://127.0.0.1:{{peerPort}} helo gen{{generation}}.example
        match from any for domain "example.org" action "local-{{generation}}"
        match from any for domain "relay.example" action "relay-{{generation}}"
        """;

    /// <summary>One message: when its client began to connect and when it had the banner (so the server had accepted it).</summary>
    sealed record Sent(int Seq, bool Relayed, TimeSpan ConnectStarted, TimeSpan BannerSeen);

    [Fact]
    public async Task Reloads_under_continuous_load_refuse_nothing_lose_nothing_and_route_by_the_rules_of_each_sessions_start()
    {
        var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "in" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "relay.example" action "in"
            """);
        await using var _peer = peer;
        await peer.StartAsync();
        var smtpd = new SmtpdInstance(Config(1, peer.Port));
        await using var _smtpd = smtpd;
        await smtpd.StartAsync();

        var clock = Stopwatch.StartNew();
        var sent = new ConcurrentBag<Sent>();
        var failures = new ConcurrentBag<string>();
        int next = 0;
        using var stop = new CancellationTokenSource();
        async Task ClientAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                int seq = Interlocked.Increment(ref next);
                bool relayed = seq % 2 == 0;
                string rcpt = $"{TestUsers.Recipient}@{(relayed ? "relay.example" : "example.org")}";
                var started = clock.Elapsed;
                try
                {
                    await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
                    string? banner = await d.ReadReplyAsync();
                    var bannerSeen = clock.Elapsed;
                    if (banner?.StartsWith("220") != true) { failures.Add($"#{seq} banner: {banner}"); continue; }
                    await d.CommandAsync("EHLO load.example");
                    string mail = await d.CommandAsync("MAIL FROM:<load@example.org>");
                    string rcptReply = await d.CommandAsync($"RCPT TO:<{rcpt}>");
                    string data = await d.CommandAsync("DATA");
                    string end = await d.CommandAsync($"Subject: seq {seq}\r\n\r\nmessage {seq}\r\n.");
                    await d.CommandAsync("QUIT");
                    if (!end.StartsWith("250")) { failures.Add($"#{seq}: {mail} / {rcptReply} / {data} / {end}"); continue; }
                    sent.Add(new Sent(seq, relayed, started, bannerSeen));
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                {
                    failures.Add($"#{seq}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }
        var clients = Enumerable.Range(0, Clients).Select(_ => Task.Run(ClientAsync)).ToList();

        // Each reload: asked at Asked, answered (in force for sessions accepted after) at Done.
        var reloads = new List<(TimeSpan Asked, TimeSpan Done)>();
        foreach (int generation in new[] { 2, 3 })
        {
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            smtpd.WriteConfig(Config(generation, peer.Port));
            var asked = clock.Elapsed;
            var (code, output) = await Smtpctl.RunAsync(smtpd, "reload");
            reloads.Add((asked, clock.Elapsed));
            Assert.True(code == 0, output);
        }
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        stop.Cancel();
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(failures.IsEmpty, $"{failures.Count} session(s) failed or refused, e.g. {string.Join("; ", failures.Take(5))}");
        var messages = sent.ToList();

        // Where each message arrived, by its Subject: local ones in maildirs/genN, relayed ones at
        // the peer with the HELO of the generation that relayed them in their Received: header.
        var localCount = messages.Count(m => !m.Relayed);
        var relayedCount = messages.Count - localCount;
        await WaitForCountAsync(() => LocalArrived(smtpd) + RelayedArrived(peer), localCount + relayedCount);
        var arrived = new Dictionary<int, int>();
        for (int generation = 1; generation <= 3; generation++)
        {
            string dir = Path.Combine(smtpd.Maildirs, $"gen{generation}", TestUsers.Recipient, "new");
            foreach (string file in Directory.Exists(dir) ? Directory.GetFiles(dir) : [])
                arrived.Add(SeqOf(File.ReadAllText(file)), generation);
        }
        foreach (string file in Directory.GetFiles(Path.Combine(peer.Maildirs, TestUsers.Recipient, "new")))
        {
            string text = File.ReadAllText(file);
            var helo = System.Text.RegularExpressions.Regex.Match(text, @"from gen(\d)\.example");
            Assert.True(helo.Success, $"relayed message without a generation's HELO:\n{text}");
            arrived.Add(SeqOf(text), int.Parse(helo.Groups[1].Value));
        }

        var missing = messages.Where(m => !arrived.ContainsKey(m.Seq)).ToList();
        if (missing.Count > 0)
        {
            var (_, queue) = await Smtpctl.RunAsync(smtpd, "show", "queue");
            Assert.Fail($"{missing.Count} of {messages.Count} accepted messages never arrived ({string.Join(", ", missing.Take(10).Select(m => $"#{m.Seq}{(m.Relayed ? " relayed" : "")}"))}); " +
                $"queue:\n{queue}\nlog:\n{string.Join("\n", smtpd.Log.Split('\n').Where(l => l.Contains("warn") || l.Contains("TempFail") || l.Contains("PermFail")).Take(30))}");
        }
        foreach (var m in messages)
        {
            Assert.True(arrived.TryGetValue(m.Seq, out int generation), $"message {m.Seq} was accepted but never arrived");
            // Accepted (banner seen) before reload k was asked: generation k or older; connecting
            // only after reload k was done: generation k+1 or newer.
            for (int k = 0; k < reloads.Count; k++)
            {
                if (m.BannerSeen < reloads[k].Asked) Assert.True(generation <= k + 1, $"message {m.Seq} began before reload {k + 1} but went by generation {generation}");
                if (m.ConnectStarted > reloads[k].Done) Assert.True(generation >= k + 2, $"message {m.Seq} began after reload {k + 1} but went by generation {generation}");
            }
        }
        // The load really straddled both reloads.
        for (int generation = 1; generation <= 3; generation++)
            Assert.Contains(generation, arrived.Values);
    }

    static int LocalArrived(SmtpdInstance smtpd) => Enumerable.Range(1, 3)
        .Select(g => Path.Combine(smtpd.Maildirs, $"gen{g}", TestUsers.Recipient, "new"))
        .Sum(d => Directory.Exists(d) ? Directory.GetFiles(d).Length : 0);

    static int RelayedArrived(SmtpdInstance peer)
    {
        string dir = Path.Combine(peer.Maildirs, TestUsers.Recipient, "new");
        return Directory.Exists(dir) ? Directory.GetFiles(dir).Length : 0;
    }

    static async Task WaitForCountAsync(Func<int> count, int expected)
    {
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (count() < expected && DateTime.UtcNow < deadline) await Task.Delay(200);
    }

    static int SeqOf(string message) =>
        int.Parse(System.Text.RegularExpressions.Regex.Match(message, @"Subject: seq (\d+)").Groups[1].Value);
}
