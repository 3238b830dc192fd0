using System.Text;
using Smtpd.Filter;

namespace Smtpd.Tests.Filter;

// A filter process (a few lines of sh speaking the filter protocol) and the table that routes its
// answers to whoever waits for a session and token.
public sealed class FilterProcessInstanceTests
{
    // Registers the commit phase and answers every filter request "proceed".
    const string ProceedingFilter = """
        while read -r l; do [ "$l" = "config|ready" ] && break; done
        echo "register|filter|smtp-in|commit"
        echo "register|ready"
        while IFS='|' read -r kind version time subsystem phase session token rest; do
          echo "filter-result|$session|$token|proceed"
        done
        """;

    [Fact]
    public async Task A_data_line_stage_that_ends_late_does_not_take_away_the_commit_answer()
    {
        using var log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Null);
        var instance = await FilterProcessInstance.StartAsync("sh", ProceedingFilter, "mx.test", log, TimeSpan.FromSeconds(20), TimeProvider.System);
        try
        {
            // The session has its "." and subscribes for the commit before the data-line stage,
            // which subscribed the same session and token, has unsubscribed.
            var dataLines = instance.Subscribe(1, 2);
            var commit = instance.Subscribe(1, 2);
            instance.Unsubscribe(1, 2, dataLines);
            instance.Send($"filter|{FilterProcessInstance.ProtocolVersion}|0|smtp-in|commit|0000000000000001|0000000000000002|");
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            Assert.Equal("rproceed", Encoding.ASCII.GetString(await commit.ReadAsync(wait.Token)));
        }
        finally { instance.Kill("test over"); }
    }
}
