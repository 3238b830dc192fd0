using System.Diagnostics;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;
using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

// 20 times: SIGKILL at a random moment while clients send (local and relayed mail), then start
// again on the same spool. Every message that got 250 must be delivered; a message is delivered
// twice only when a kill fell between its delivery and the removal of its envelope, which shows
// as its two copies lying on either side of a kill. Those are counted.
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
        int mxPort = SmtpdInstance.FreePort();
        await using var dns = new Dnsmasq(["relay.test"], ["mx-host=relay.test,mx.relay.test,10", "host-record=mx.relay.test,127.0.0.1"]);
        await using var peer = new SmtpdInstance(port: mxPort);
        peer.WriteConfig("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "relay.test" action "local"
            """);
        await peer.StartAsync();

        await using var smtpd = new SmtpdInstance(Config);
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        smtpd.Environment["SMTPD_MTA_PORT"] = mxPort.ToString();
        smtpd.Environment["SMTPD_MTA_TIMEOUT"] = "10";
        await smtpd.StartAsync();

        string user = TestUsers.Recipient;
        var messages = Enumerable.Range(0, count).Select(i => new TestMessage($"c{i}",
            i % 2 == 0 ? [$"{user}@localhost"] : [$"{user}@relay.test"])).ToList();
        var result = new LoadResult();
        var sending = LoadClient.SendAsync(smtpd.Port, messages, sessions: 8, deadline: TimeSpan.FromMinutes(5), into: result);

        var kills = new List<DateTime>();
        var clock = Stopwatch.StartNew();
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            await Task.Delay(random.Next(200, 1500));
            await smtpd.KillAsync();
            kills.Add(DateTime.UtcNow);
            await smtpd.StartAsync();
        }
        await sending;
        var cycling = clock.Elapsed;
        Assert.Empty(result.PermReplyTexts);

        string[] roots = [smtpd.Maildirs, peer.Maildirs];
        var counts = await Deliveries.WaitAsync(roots, c => result.Accepted.Keys.All(c.ContainsKey), TimeSpan.FromMinutes(3),
            () => Smtpctl.RunAsync(smtpd, "schedule", "all"));
        await Task.Delay(3000);
        counts = Deliveries.Count(roots);

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
        Assert.Empty(notStraddling);
        Assert.Equal(0, refusedDelivered);
        Assert.Equal(count, result.Accepted.Count + result.InDoubt.Count);
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
    }

    static List<DateTime> CopyTimes(string[] roots, string id) =>
        roots.Where(Directory.Exists)
            .SelectMany(r => Directory.EnumerateFiles(r, "*", SearchOption.AllDirectories))
            .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) is "new" or "cur" && File.ReadLines(f).TakeWhile(l => l.Length > 0).Contains($"X-Test-Id: {id}"))
            .Select(File.GetLastWriteTimeUtc).Order().ToList();

    /// <summary>
    /// A kill came just after the first copy was made (within the time it takes to record a
    /// delivery and remove its envelope, 2 s here under load) and before every later copy.
    /// </summary>
    static bool StraddlesAKill(List<DateTime> copies, List<DateTime> kills) =>
        copies.Count > 1 && kills.Any(k => k >= copies[0].AddMilliseconds(-50) && k <= copies[0].AddSeconds(2)
            && copies.Skip(1).All(later => later >= k.AddMilliseconds(-50)));
}
