using System.Diagnostics;
using System.Text;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

// A spool on a small tmpfs filled up (deliveries paused, so nothing leaves it). Clients must get
// 4xx (452 4.3.1), never 5xx; no message that got 250 may be lost or damaged, none that did not
// may be delivered; once deliveries free the space, mail flows again.
[Collection(ReliabilityCollection.Name)]
public sealed class DiskFullTests(ITestOutputHelper output)
{
    const int SpoolMegabytes = 16;

    static async Task<int> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        return p.ExitCode;
    }

    /// <summary>A body of about 300 KB whose last line names the message, so a truncated copy shows.</summary>
    static string Body(TestMessage m) =>
        string.Concat(Enumerable.Repeat($"{m.Id} {new string('x', 70)}\r\n", 4000)) + $"end of {m.Id}";

    [SkippableFact]
    public async Task A_full_spool_gives_4xx_loses_nothing_and_mail_flows_when_space_returns()
    {
        Skip.IfNot(TestUsers.IsRoot, "mounting a tmpfs needs root");
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        Directory.CreateDirectory(smtpd.Spool);
        Assert.Equal(0, await RunAsync("mount", "-t", "tmpfs", "-o", $"size={SpoolMegabytes}m", "tmpfs", smtpd.Spool));
        try
        {
            // A small margin, so that the disk really fills during DATA too, not only at MAIL.
            smtpd.Environment["SMTPD_SPOOL_MINFREE"] = (256 * 1024).ToString();
            await smtpd.StartAsync();
            Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mda")).Code);

            string user = TestUsers.Recipient;
            var result = new LoadResult();
            var replies = new List<string>();
            int i = 0;
            // Fill it: one message after another until the server has refused several in a row.
            for (int refusedInARow = 0; refusedInARow < 5 && i < 500; i++)
            {
                var m = new TestMessage($"full{i}", [$"{user}@localhost"]);
                int before = result.TempReplies;
                try { await LoadClient.SendOnceAsync(smtpd.Port, m, result, Body); }
                catch (IOException ex) { await Task.Delay(1000); Assert.Fail($"message {i}: the server dropped the session ({ex.Message}):\n{smtpd.Log}"); }
                refusedInARow = result.TempReplies > before ? refusedInARow + 1 : 0;
            }
            // A filler file takes what is left, as another program on the same disk would.
            string filler = Path.Combine(smtpd.Spool, "filler");
            try { await File.WriteAllBytesAsync(filler, new byte[SpoolMegabytes << 20]); } catch (IOException) { }
            int acceptedWhenFull = result.Accepted.Count;
            for (int k = 0; k < 5; k++, i++)
                await LoadClient.SendOnceAsync(smtpd.Port, new TestMessage($"full{i}", [$"{user}@localhost"]), result, Body);

            Assert.Empty(result.PermReplyTexts);
            Assert.True(result.TempReplies >= 10, $"only {result.TempReplies} 4xx replies");
            Assert.Equal(acceptedWhenFull, result.Accepted.Count); // nothing more got in once the disk was full
            Assert.Contains("452 4.3.1", smtpd.Log + string.Join("\n", result.TempReplyTexts));
            // Nothing half-received stays behind.
            Assert.Empty(Directory.GetDirectories(Path.Combine(smtpd.Spool, "incoming")));

            // Space returns: the filler goes, deliveries resume and empty the spool.
            File.Delete(filler);
            Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "mda")).Code);
            var counts = await Deliveries.WaitAsync([smtpd.Maildirs], c => c.Count >= acceptedWhenFull, TimeSpan.FromMinutes(1));
            var after = new TestMessage("after", [$"{user}@localhost"]);
            await LoadClient.SendOnceAsync(smtpd.Port, after, result, Body);
            Assert.True(result.Accepted.ContainsKey("after"), "mail does not flow again once space returned");
            counts = await Deliveries.WaitAsync([smtpd.Maildirs], c => c.ContainsKey("after"), TimeSpan.FromSeconds(30));

            var delivered = Directory.GetFiles(smtpd.Maildirs, "*", SearchOption.AllDirectories).Where(f => f.Contains("/new/")).ToList();
            int damaged = delivered.Count(f => { string id = File.ReadLines(f).First(l => l.StartsWith("X-Test-Id: "))[11..]; return !File.ReadAllText(f).TrimEnd().EndsWith($"end of {id}"); });
            Figures.Record(output, "disk-full",
                $"spool={SpoolMegabytes}MiB tmpfs messages-tried={i + 1} accepted={result.Accepted.Count} 4xx={result.TempReplies} 5xx={result.PermReplies} " +
                $"delivered={counts.Count} lost={result.Accepted.Keys.Count(id => !counts.ContainsKey(id))} duplicated={counts.Values.Count(n => n > 1)} damaged={damaged} " +
                $"delivered-but-refused={counts.Keys.Count(id => !result.Accepted.ContainsKey(id))}");
            Assert.Equal(result.Accepted.Keys.Order(), counts.Keys.Order());
            Assert.All(counts.Values, n => Assert.Equal(1, n));
            Assert.Equal(0, damaged);
        }
        finally
        {
            await smtpd.StopAsync();
            await RunAsync("umount", "-l", smtpd.Spool);
        }
    }
}
