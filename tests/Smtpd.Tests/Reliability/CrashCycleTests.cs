using System.Diagnostics;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;
using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

// 20 times: SIGKILL at a random moment while clients send (local and relayed mail), then start
// again on the same spool. Every message that got 250 must be delivered; a message is delivered
// twice only when a kill fell between its delivery and the removal of its envelope, which shows
// as a kill between each two of its copies (never two copies in one life of the daemon). Those
// are counted.
[Collection(ReliabilityCollection.Name)]
public sealed class CrashCycleTests(ITestOutputHelper output)
{
    const string Config = """
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "out" relay
        match from any for domain "localhost" action "local"
        match from any for domain "relay.test" action "out"
        """;

    [SkippableFact]
    public async Task Every_accepted_message_survives_twenty_kills_and_duplicates_only_straddle_a_kill()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        const int Cycles = 20;
        int count = Figures.Scaled(800);
        var random = new Random(20261202);
        await using var testbed = await RelayTestbed.CreateAsync(Config);
        var (smtpd, peer) = (testbed.Smtpd, testbed.Peer);
        // A relayed copy's time is when the peer stored it: warm the peer up first, so that it
        // stores what it receives at once (its first delivery starts a delivery process).
        var warm = new LoadResult();
        await LoadClient.SendOnceAsync(peer.Port, new TestMessage("warm-up", [$"{TestUsers.Recipient}@relay.test"]), warm);
        Assert.True(warm.Accepted.ContainsKey("warm-up"));
        await Deliveries.WaitAsync([peer.Maildirs], c => c.ContainsKey("warm-up"), TimeSpan.FromSeconds(30));

        await smtpd.StartAsync();

        string user = TestUsers.Recipient;
        var messages = Enumerable.Range(0, count).Select(i => new TestMessage($"c{i}",
            i % 2 == 0 ? [$"{user}@localhost"] : [$"{user}@relay.test"])).ToList();
        var result = new LoadResult();
        var sending = LoadClient.SendAsync(smtpd.Port, messages, sessions: 8, deadline: TimeSpan.FromMinutes(5), into: result);

        var kills = new List<Restart>();
        var clock = Stopwatch.StartNew();
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            await Task.Delay(random.Next(200, 1500));
            await smtpd.KillAsync();
            var killed = DateTime.UtcNow;
            await smtpd.StartAsync();
            kills.Add(new Restart(killed, DateTime.UtcNow));
        }
        await sending;
        var cycling = clock.Elapsed;
        Assert.Empty(result.PermReplyTexts);

        string[] roots = [smtpd.Maildirs, peer.Maildirs];
        var counts = await Deliveries.WaitAsync(roots, c => result.Accepted.Keys.All(c.ContainsKey), TimeSpan.FromMinutes(3),
            () => Smtpctl.RunAsync(smtpd, "schedule", "all"));
        await Task.Delay(3000);
        counts = Deliveries.Count(roots);
        counts.Remove("warm-up");

        var lost = result.Accepted.Keys.Where(id => !counts.ContainsKey(id)).ToList();
        var duplicated = counts.Where(c => c.Value > 1).Select(c => c.Key).ToList();
        var notStraddling = duplicated.Where(id => !StraddlesAKill(CopyTimes(roots, id), kills)).ToList();
        int inDoubtDelivered = result.InDoubt.Keys.Count(counts.ContainsKey);
        int refusedDelivered = counts.Keys.Count(id => !result.Accepted.ContainsKey(id) && !result.InDoubt.ContainsKey(id));
        Figures.Record(output, "crash-cycles",
            $"kills={Cycles} messages={count} accepted={result.Accepted.Count} in-doubt={result.InDoubt.Count} (delivered {inDoubtDelivered}) " +
            $"delivered={counts.Count} lost={lost.Count} duplicated={duplicated.Count} duplicates-not-straddling-a-kill={notStraddling.Count} " +
            $"delivered-without-250={refusedDelivered} 5xx={result.PermReplies} cycling={cycling.TotalSeconds:F0}s");

        Assert.Empty(lost);
        Assert.True(notStraddling.Count == 0, "duplicates within one run: " + string.Join("; ", notStraddling.Select(id =>
            $"{id}: copies at {string.Join(", ", CopyTimes(roots, id).Select(t => t.ToString("HH:mm:ss.fff")))}")) +
            $"; kills (and ready again) at {string.Join(", ", kills.Select(k => $"{k.Killed:HH:mm:ss.fff} ({k.Ready:HH:mm:ss.fff})"))}");
        Assert.Equal(0, refusedDelivered);
        Assert.Equal(count, result.Accepted.Count + result.InDoubt.Count);
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
    }

    static List<DateTime> CopyTimes(string[] roots, string id) =>
        roots.Where(Directory.Exists)
            .SelectMany(r => Directory.EnumerateFiles(r, "*", SearchOption.AllDirectories))
            .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) is "new" or "cur" && File.ReadLines(f).TakeWhile(l => l.Length > 0).Contains($"X-Test-Id: {id}"))
            .Select(File.GetLastWriteTimeUtc).Order().ToList();

    /// <summary>A kill, and the moment the daemon started after it was ready again.</summary>
    sealed record Restart(DateTime Killed, DateTime Ready);

    /// <summary>
    /// Each copy was made by a different life of the daemon: between two copies there is a kill.
    /// A delivery whose envelope is removed is never made again, and removal happens in the same
    /// life as the delivery unless a kill comes first; so two copies in one life would be a bug,
    /// and copies in different lives are exactly the kills between delivery and removal. A copy
    /// can be finished a little after the kill that ended its life (a delivery process or the
    /// peer completing what it had been given), so a copy made between a kill and the next start
    /// may belong to either life.
    /// </summary>
    static bool StraddlesAKill(List<DateTime> copies, List<Restart> restarts)
    {
        var slack = TimeSpan.FromMilliseconds(50);
        for (int i = 1; i < copies.Count; i++)
            if (!restarts.Any(r => copies[i - 1] <= r.Ready + slack && copies[i] >= r.Killed - slack)) return false;
        return copies.Count > 1;
    }
}
