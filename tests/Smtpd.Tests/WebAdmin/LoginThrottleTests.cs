using System.Net;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Admin;

namespace Smtpd.Tests.WebAdmin;

public sealed class LoginThrottleTests
{
    static readonly IPAddress A = IPAddress.Parse("192.0.2.1"), B = IPAddress.Parse("192.0.2.2");

    [Fact]
    public void The_fifth_failure_refuses_the_address_until_its_window_ends_and_no_other()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-07T12:00:00Z"));
        var throttle = new LoginThrottle(time);
        for (int i = 0; i < LoginThrottle.MaxFailures; i++)
        {
            Assert.Null(throttle.Refused(A));
            throttle.Failed(A);
            time.Advance(TimeSpan.FromSeconds(10));
        }
        Assert.Equal(LoginThrottle.Window - TimeSpan.FromSeconds(50), throttle.Refused(A));
        Assert.Null(throttle.Refused(B));
        time.Advance(LoginThrottle.Window - TimeSpan.FromSeconds(50));
        Assert.Null(throttle.Refused(A)); // the window that began with the first failure is over
    }

    [Fact]
    public void A_success_forgets_the_failures()
    {
        var time = new FakeTimeProvider();
        var throttle = new LoginThrottle(time);
        for (int i = 0; i < LoginThrottle.MaxFailures - 1; i++) throttle.Failed(A);
        throttle.Succeeded(A);
        throttle.Failed(A);
        Assert.Null(throttle.Refused(A));
    }
}
