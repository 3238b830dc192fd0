using System.Diagnostics;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

// Seed 002's descriptor exhaustion: the daemon runs under "ulimit -n 256" (prlimit) and 1000
// clients connect at once. It must survive, hold back the excess (they wait in the kernel's
// backlog, or retry, as MTAs do), deliver every message it accepted exactly once, and serve
// clients and smtpctl again afterwards.
[Collection(ReliabilityCollection.Name)]
public sealed class DescriptorLimitTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task A_thousand_clients_against_256_descriptors_are_all_served_in_turn()
    {
        int clients = Figures.Scaled(1000);
        int limit = ProcessLimits.RaiseFileLimit();
        Skip.If(limit < clients + 100, $"this machine allows only {limit} descriptors per process");
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        smtpd.Wrapper.AddRange(["prlimit", "--nofile=256:256", "--"]);
        await smtpd.StartAsync();
        Assert.Contains("file descriptors: limit 256, 32 kept in reserve", smtpd.Log);

        string user = TestUsers.Recipient;
        var messages = Enumerable.Range(0, clients).Select(i => new TestMessage($"fd{i}", [$"{user}@localhost"])).ToList();
        var clock = Stopwatch.StartNew();
        // One client per message, all at once.
        var sent = await LoadClient.SendAsync(smtpd.Port, messages, sessions: clients, deadline: TimeSpan.FromMinutes(3));
        var served = clock.Elapsed;
        Assert.False(smtpd.Process.HasExited, "smtpd died under descriptor exhaustion:\n" + smtpd.Log);
        Assert.Empty(sent.PermReplyTexts);
        Assert.Equal(clients, sent.Accepted.Count);

        var counts = await Deliveries.WaitAsync([smtpd.Maildirs], c => c.Count >= clients, TimeSpan.FromMinutes(2));
        await Task.Delay(1000);
        counts = Deliveries.Count(smtpd.Maildirs);
        int holds = SmtpdInstance.Occurrences(smtpd.Log, "not accepting connections until some are released");
        Figures.Record(output, "descriptor-limit",
            $"limit=256 clients={clients} accepted={sent.Accepted.Count} delivered={counts.Count} duplicated={counts.Values.Count(n => n > 1)} " +
            $"5xx={sent.PermReplies} 4xx={sent.TempReplies} client-connect-failures={sent.ConnectFailures} accept-holds={holds} " +
            $"emfile={SmtpdInstance.Occurrences(smtpd.Log, "Too many open files")} served-in={served.TotalSeconds:F1}s");
        Assert.Equal(clients, counts.Count);
        Assert.All(counts.Values, n => Assert.Equal(1, n));
        Assert.True(holds > 0, "the reserve was never reached: the test did not exhaust descriptors");

        // Serving again: a new client and smtpctl.
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await d.ReadReplyAsync());
            Assert.StartsWith("250", await d.CommandAsync("EHLO after.test"));
        }
        var (code, stats) = await Smtpctl.RunAsync(smtpd, "show", "stats");
        Assert.Equal(0, code);
        Assert.Contains("smtp.session", stats);
    }
}
