using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Metrics;

// client --MAIL FROM--> smtpd whose listener runs the built-in filter "nospam": two senders it
// rejects, one it lets through; /metrics counts the rejections under the filter's name.
public sealed class MetricsFilterTests
{
    [Fact]
    public async Task Filter_verdicts_are_counted_by_filter_name()
    {
        int metricsPort = SmtpdInstance.FreePort();
        var smtpd = new SmtpdInstance($$"""
            metrics listen on 127.0.0.1 port {{metricsPort}}
            filter "nospam" phase mail-from match mail-from regex "^spam@" reject "550 5.7.1 No spam here"
            listen on 127.0.0.1 port {port} filter "nospam"
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        await using var _ = smtpd;
        await smtpd.StartAsync();

        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            Assert.StartsWith("550", await d.CommandAsync("MAIL FROM:<spam@example.org>"));
            Assert.StartsWith("550", await d.CommandAsync("MAIL FROM:<spam@example.net>"));
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("221", await d.CommandAsync("QUIT"));
        }

        var s = MetricsScrape.Samples((await MetricsScrape.GetAsync(metricsPort)).Body);
        Assert.Equal(2, s.Value("smtpd_filter_verdicts_total{filter=\"nospam\",verdict=\"reject\"}"));
        Assert.Equal(2, s.Value("smtpd_commands_total{verb=\"MAIL\",class=\"5xx\"}"));
        Assert.Equal(1, s.Value("smtpd_commands_total{verb=\"MAIL\",class=\"2xx\"}"));
    }
}
