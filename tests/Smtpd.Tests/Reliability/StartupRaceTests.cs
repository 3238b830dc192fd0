using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

// Seed 002's start-up race: no component serves before the others are ready. A daemon restarted
// on a queue of 500 envelopes is asked for its queue and sent mail from the moment it is
// started: every answer lists all 500 (never a queue half loaded), and the message sent during
// the start is delivered once, with the 500, when delivery becomes possible.
[Collection(ReliabilityCollection.Name)]
public sealed class StartupRaceTests(ITestOutputHelper output)
{
    const string MboxConfig = """
        listen on 127.0.0.1 port {port}
        action "local" mbox
        match from any for local action "local"
        """;

    [Fact]
    public async Task A_restarted_daemon_answers_only_once_its_whole_queue_is_loaded()
    {
        int queued = Figures.Scaled(500);
        await using var smtpd = new SmtpdInstance(MboxConfig);
        string user = TestUsers.Recipient;
        string mbox = Path.Combine(smtpd.MailSpool, user);
        // A mail reader holds the mailbox's dot-lock: deliveries fail temporarily and mail stays queued.
        await File.WriteAllTextAsync(mbox + ".lock", "");
        await smtpd.StartAsync();
        var first = await LoadClient.SendAsync(smtpd.Port,
            Enumerable.Range(0, queued).Select(i => new TestMessage($"q{i}", [$"{user}@localhost"])).ToList(), sessions: 8, TimeSpan.FromMinutes(2));
        Assert.Equal(queued, first.Accepted.Count);
        await smtpd.StopAsync();

        // Start again, and ask at once, over and over, until it has answered a few times.
        var starting = smtpd.StartAsync();
        var answers = new List<int>();
        int refusedProbes = 0;
        var during = new LoadResult();
        var sendDuringStart = Task.Run(async () =>
        {
            for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline && during.Accepted.IsEmpty; await Task.Delay(20))
            {
                try { await LoadClient.SendOnceAsync(smtpd.Port, new TestMessage("during-start", [$"{user}@localhost"]), during); }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException) { }
            }
        });
        for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline && answers.Count < 5;)
        {
            var (code, text) = await Smtpctl.RunAsync(smtpd, "show", "queue");
            if (code != 0) { refusedProbes++; continue; }
            answers.Add(text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains('|')));
        }
        await starting;
        await sendDuringStart;
        Assert.True(during.Accepted.ContainsKey("during-start"), "no message was accepted during the start");
        Assert.NotEmpty(answers);
        Assert.All(answers, n => Assert.True(n >= queued, $"smtpctl saw {n} of {queued} envelopes: the queue was not loaded yet"));

        // Delivery becomes possible: all of them, and the one sent during the start, once each.
        File.Delete(mbox + ".lock");
        await Smtpctl.RunAsync(smtpd, "schedule", "all");
        string text2 = await Mailboxes.WaitForMboxAsync(mbox, queued + 1, TimeSpan.FromMinutes(2));
        await Task.Delay(1000);
        text2 = await Mailboxes.ReadMboxAsync(mbox);
        var ids = text2.Split('\n').Where(l => l.StartsWith("X-Test-Id: ")).Select(l => l[11..].Trim()).ToList();
        Figures.Record(output, "startup-race",
            $"queued={queued} answers={answers.Count} (each listing {string.Join("/", answers.Distinct())}) probes-before-ready={refusedProbes} " +
            $"sent-during-start=accepted delivered={ids.Distinct().Count()} duplicated={ids.Count - ids.Distinct().Count()}");
        Assert.Equal(queued + 1, ids.Distinct().Count());
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }
}
