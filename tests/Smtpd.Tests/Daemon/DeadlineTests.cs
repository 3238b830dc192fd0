using Microsoft.Extensions.Time.Testing;

namespace Smtpd.Tests.Daemon;

// Timeouts counted on the component's clock: a fake one moves them, the outer token still wins.
public sealed class DeadlineTests
{
    [Fact]
    public void The_timeout_fires_when_the_given_clock_reaches_it_and_can_be_rearmed()
    {
        var clock = new FakeTimeProvider();
        using var deadline = Deadline.After(clock, TimeSpan.FromMinutes(5), CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(4));
        deadline.CancelAfter(TimeSpan.FromMinutes(5)); // counted again from now
        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.False(deadline.IsCancellationRequested);
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(deadline.Token.IsCancellationRequested);
    }

    [Fact]
    public void The_outer_token_cancels_it_at_once_and_a_disposed_deadline_is_left_alone()
    {
        var clock = new FakeTimeProvider();
        using var outer = new CancellationTokenSource();
        var first = Deadline.After(clock, TimeSpan.FromHours(1), outer.Token);
        first.Dispose();
        using var second = Deadline.After(clock, TimeSpan.FromHours(1), outer.Token);
        outer.Cancel();
        Assert.True(second.IsCancellationRequested);
        using var already = Deadline.After(clock, TimeSpan.FromHours(1), outer.Token);
        Assert.True(already.IsCancellationRequested);
    }
}
