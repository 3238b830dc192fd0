using System.Diagnostics;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Control;

// smtpctl ──control socket──▶ smtpd: control ──request──▶ scheduler (its handler throws, injected)
// A component that fails on an admin's request answers with the error: smtpctl says the command
// failed at once instead of waiting for the 30 s request timeout, and the component goes on.
public sealed class FailedRequestTests
{
    [Fact]
    public async Task Smtpctl_reports_a_failed_request_at_once_and_the_scheduler_still_answers()
    {
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
        smtpd.Environment["SMTPD_CHAOS"] = "fail=0,delay=0,throw=bus.scheduler.SchedulerList";
        await smtpd.StartAsync();

        var watch = Stopwatch.StartNew();
        var (code, output) = await Smtpctl.RunAsync(smtpd, "show", "queue");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"smtpctl answered after {watch.Elapsed}");
        Assert.Equal(1, code);
        Assert.Equal("smtpctl: command failed", output.Trim());
        Assert.Contains("chaos: injected exception at bus.scheduler.SchedulerList", smtpd.Log);

        var (scheduled, text) = await Smtpctl.RunAsync(smtpd, "schedule", "all");
        Assert.Equal(0, scheduled);
        Assert.Equal("0 envelope scheduled", text.Trim());
    }
}
