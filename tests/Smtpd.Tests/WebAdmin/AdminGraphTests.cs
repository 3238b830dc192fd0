using System.Text.RegularExpressions;

namespace Smtpd.Tests.WebAdmin;

// The page's graphs, sampled every second (the SMTPD_ADMIN_SAMPLE_INTERVAL test knob): the
// points drawn for messages in add up to what was sent, and with -B stat=sqlite they are
// still there after a restart.
public sealed partial class AdminGraphTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [GeneratedRegex("<circle class=\"point\" data-series=\"(?<series>[a-z]+)\" data-value=\"(?<value>\\d+)\"")]
    private static partial Regex Point();

    /// <summary>The values drawn for one series of one chart.</summary>
    internal static List<long> Points(string page, string chart, string series)
    {
        int start = page.IndexOf($"<svg id=\"{chart}\"", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no chart {chart}");
        string svg = page[start..page.IndexOf("</svg>", start, StringComparison.Ordinal)];
        return Point().Matches(svg).Where(m => m.Groups["series"].Value == series).Select(m => long.Parse(m.Groups["value"].Value)).ToList();
    }

    static async Task<string> PageWhenAsync(HttpClient client, Func<string, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            string page = await client.GetStringAsync("/");
            if (done(page)) return page;
            Assert.True(DateTime.UtcNow < deadline, $"{what} never seen:\n{page}");
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task The_graphs_draw_the_traffic_sampled_and_keep_it_across_a_restart_with_sqlite()
    {
        await using var site = await AdminSite.StartAsync(sampleSeconds: 1, sqlite: true);
        const int Sent = 3;
        for (int i = 0; i < Sent; i++) await site.SendAsync($"sender{i}@example.org", $"rcpt{i}@far.example");
        using (var client = site.Client())
        {
            // Several samples after the traffic: the messages in, per interval, add up to what was sent.
            string page = await PageWhenAsync(client, p => Points(p, "graph-messages", "in").Count >= 4 && Points(p, "graph-messages", "in").Sum() == Sent, "the traffic in the graph");
            Assert.Contains($"<dd id=\"received\">{Sent}</dd>", page);
            Assert.Equal(Points(page, "graph-messages", "in").Count + 1, Points(page, "graph-queue", "queue").Count);
            Assert.Contains(Sent, Points(page, "graph-queue", "queue").Select(v => (int)v));
        }

        await site.Smtpd.StopAsync();
        await site.Smtpd.StartAsync();
        using (var client = site.Client())
        {
            // The samples before the restart are loaded: the counters' rise is still drawn.
            string page = await client.GetStringAsync("/");
            Assert.Equal(Sent, Points(page, "graph-messages", "in").Sum());
            Assert.True(Points(page, "graph-messages", "in").Count >= 4);
        }
    }
}
