using System.Diagnostics;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;
using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

// Seed 001's monkeys: 2000 messages, a third to a local user, a third relayed through a real DNS
// server (dnsmasq) to a second smtpd, a third to both, sent by clients that retry on 4xx as
// MTAs do. With faults injected into every component message, queue and table operation, DNS
// answer and delivery, every message must arrive exactly once and no client may see a 5xx;
// the same run without chaos is the comparison.
[Collection(ReliabilityCollection.Name)]
public sealed class ChaosRunTests(ITestOutputHelper output)
{
    const int Seed = 20261202;

    const string Config = """
        table locals { "localhost" }
        table relayed { "relay.test" }
        listen on 127.0.0.1 port {port}
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "out" relay
        match from any for domain <locals> action "local"
        match from any for domain <relayed> action "out"
        """;

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_message_arrives_exactly_once_and_no_client_sees_a_5xx(bool chaos)
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        int count = Figures.Scaled(2000);
        await using var testbed = await RelayTestbed.CreateAsync(Config);
        var (smtpd, peer) = (testbed.Smtpd, testbed.Peer);
        if (chaos) smtpd.Environment["SMTPD_CHAOS"] = $"seed={Seed},fail=0.05,delay=0.1,max-delay=20ms";
        await smtpd.StartAsync();
        if (chaos) Assert.Contains("chaos mode is ON", smtpd.Log);

        string user = TestUsers.Recipient;
        var messages = Enumerable.Range(0, count).Select(i => new TestMessage($"m{i}", (i % 3) switch
        {
            0 => [$"{user}@localhost"],
            1 => [$"{user}@relay.test"],
            _ => [$"{user}@localhost", $"{user}@relay.test"],
        })).ToList();

        var clock = Stopwatch.StartNew();
        var sent = await LoadClient.SendAsync(smtpd.Port, messages, sessions: 16, deadline: TimeSpan.FromMinutes(4));
        var accepted = clock.Elapsed;
        Assert.Empty(sent.PermReplyTexts);
        Assert.Equal(count, sent.Accepted.Count);

        // Envelopes that failed temporarily wait for their retry (10 s for local mail, minutes for
        // relayed mail); an admin's "smtpctl schedule all" asks for them now.
        var wantLocal = messages.Where(m => m.Recipients.Any(r => r.EndsWith("@localhost"))).Select(m => m.Id).ToHashSet();
        var wantRelay = messages.Where(m => m.Recipients.Any(r => r.EndsWith("@relay.test"))).Select(m => m.Id).ToHashSet();
        string[] localRoot = [smtpd.Maildirs], relayRoot = [peer.Maildirs];
        var local = await Deliveries.WaitAsync(localRoot, c => c.Count >= wantLocal.Count, TimeSpan.FromMinutes(3),
            () => Smtpctl.RunAsync(smtpd, "schedule", "all"));
        var relayed = await Deliveries.WaitAsync(relayRoot, c => c.Count >= wantRelay.Count, TimeSpan.FromMinutes(3),
            () => Smtpctl.RunAsync(smtpd, "schedule", "all"));
        var delivered = clock.Elapsed;
        await Task.Delay(3000); // anything delivered twice would show up by now
        local = Deliveries.Count(localRoot);
        relayed = Deliveries.Count(relayRoot);

        int faults = SmtpdInstance.Occurrences(smtpd.Log, "chaos: injected failure at");
        int lost = wantLocal.Count(id => !local.ContainsKey(id)) + wantRelay.Count(id => !relayed.ContainsKey(id));
        int duplicated = local.Values.Count(n => n > 1) + relayed.Values.Count(n => n > 1);
        Figures.Record(output, chaos ? "chaos" : "chaos-baseline",
            $"messages={count} accepted={sent.Accepted.Count} 4xx={sent.TempReplies} 5xx={sent.PermReplies} " +
            $"local={local.Count}/{wantLocal.Count} relayed={relayed.Count}/{wantRelay.Count} lost={lost} duplicated={duplicated} " +
            $"faults-injected={faults} accepted-in={accepted.TotalSeconds:F1}s delivered-in={delivered.TotalSeconds:F1}s");

        Assert.Equal(0, lost);
        Assert.Equal(0, duplicated);
        Assert.Equal(wantLocal.Count, local.Count);
        Assert.Equal(wantRelay.Count, relayed.Count);
        Assert.DoesNotContain(" bounce msgid=", smtpd.Log);
        if (chaos) Assert.True(faults > 0, "chaos injected no fault");
        else Assert.Equal(0, sent.TempReplies);
        var queue = await Smtpctl.QueueAsync(smtpd);
        Assert.Empty(queue);
    }
}
