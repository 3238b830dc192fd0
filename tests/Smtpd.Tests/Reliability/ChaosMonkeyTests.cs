using Smtpd.Chaos;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Reliability;

public sealed class ChaosMonkeyTests
{
    static ChaosMonkey Monkey(string settings) => new(ChaosSettings.Parse(settings));

    static List<bool> Decisions(ChaosMonkey m, string point, int n) => Enumerable.Range(0, n).Select(_ => m.Fails(point)).ToList();

    [Fact]
    public void The_same_seed_repeats_the_same_faults_and_another_seed_does_not()
    {
        var a = Decisions(Monkey("seed=7,fail=0.3"), "queue.message-commit", 200);
        var b = Decisions(Monkey("seed=7,fail=0.3"), "queue.message-commit", 200);
        var c = Decisions(Monkey("seed=8,fail=0.3"), "queue.message-commit", 200);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Faults_come_at_about_the_rate_asked_and_never_at_zero()
    {
        var m = Monkey("seed=1,fail=0.1,delay=0.5,max-delay=20ms");
        int failures = Decisions(m, "mda.deliver", 10_000).Count(f => f);
        Assert.InRange(failures, 800, 1200);
        Assert.Equal(failures, m.Failures);
        var delays = Enumerable.Range(0, 1000).Select(_ => m.Delay("bus.queue")).ToList();
        Assert.InRange(delays.Count(d => d > TimeSpan.Zero), 400, 600);
        Assert.All(delays, d => Assert.True(d < TimeSpan.FromMilliseconds(20)));
        Assert.DoesNotContain(true, Decisions(Monkey("seed=1,fail=0"), "mda.deliver", 1000));
    }

    [Theory]
    [InlineData("fail=2")]
    [InlineData("seed=x")]
    [InlineData("monkeys=many")]
    [InlineData("max-delay=soon")]
    public void Bad_settings_are_refused(string settings) =>
        Assert.Throws<FormatException>(() => ChaosSettings.Parse(settings));

    [Fact]
    public void Chaos_is_refused_on_the_system_spool()
    {
        Assert.NotNull(ChaosMonkey.Refusal("/var/spool/smtpd"));
        Assert.NotNull(ChaosMonkey.Refusal("/var/spool/smtpd/"));
        Assert.Null(ChaosMonkey.Refusal("/tmp/test-spool"));
    }

    [Fact]
    public async Task The_daemon_refuses_chaos_on_the_system_spool_and_unknown_trace_names()
    {
        await using var smtpd = new SmtpdInstance("listen on 127.0.0.1 port {port}\naction \"l\" mbox\nmatch for local action \"l\"\n");
        var env = new Dictionary<string, string> { ["SMTPD_SPOOL"] = "/var/spool/smtpd", ["SMTPD_SOCKET"] = smtpd.ControlSocket };
        var (code, _, stderr) = await SmtpdInstance.RunAsync(env, "-d", "-f", smtpd.ConfigPath, "-T", "chaos");
        Assert.Equal(1, code);
        Assert.Contains("refusing to inject faults into the system spool", stderr);

        env["SMTPD_SPOOL"] = smtpd.Spool;
        (code, _, stderr) = await SmtpdInstance.RunAsync(env, "-d", "-f", smtpd.ConfigPath, "-T", "monkeys");
        Assert.Equal(1, code);
        Assert.Contains("unknown trace subsystem monkeys", stderr);
    }
}
