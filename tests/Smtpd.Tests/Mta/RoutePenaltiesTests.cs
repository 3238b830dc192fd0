using Smtpd.Mta;

namespace Smtpd.Tests.Mta;

public class RoutePenaltiesTests
{
    static readonly DateTimeOffset T0 = new(2026, 12, 7, 2, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_route_waits_twice_as_long_after_each_failed_attempt_up_to_a_minute()
    {
        var p = new RoutePenalties();
        var now = T0;
        var waits = new List<double>();
        for (int i = 0; i < 8; i++)
        {
            var penalty = p.Penalize("out|grey.example", now, out bool lengthened);
            Assert.True(lengthened);
            Assert.Equal(T0, penalty.Since);
            waits.Add((penalty.Until - now).TotalSeconds);
            now = penalty.Until;
        }
        Assert.Equal([2, 4, 8, 16, 32, 60, 60, 60], waits);
        p.Clear("out|grey.example");
        Assert.Equal(DateTimeOffset.MinValue, p.Until("out|grey.example"));
    }

    [Fact]
    public void Failures_reported_while_the_route_already_waits_do_not_make_the_wait_longer()
    {
        // Three messages on their way when the route failed: one penalty, not 2 + 4 + 8 s.
        var p = new RoutePenalties();
        var first = p.Penalize("out|grey.example", T0, out bool lengthened);
        Assert.True(lengthened);
        var second = p.Penalize("out|grey.example", T0.AddSeconds(1), out lengthened);
        Assert.False(lengthened);
        Assert.Equal(first, second);
        Assert.Equal((1, T0.AddSeconds(2)), p.Snapshot()["out|grey.example"]);
    }
}
