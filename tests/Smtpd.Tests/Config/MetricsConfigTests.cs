using System.Net;

namespace Smtpd.Tests.Config;

/// <summary><c>metrics listen on ADDRESS port PORT [public]</c>: the forms accepted and the errors, at their lines.</summary>
public class MetricsConfigTests
{
    const string Rule = "match from local for any reject\n";

    [Fact]
    public void No_statement_means_no_metrics() => Assert.Null(ConfigAssert.Parse(Rule).Metrics);

    [Theory]
    [InlineData("metrics listen on 127.0.0.1 port 9100", "127.0.0.1", 9100, false)]
    [InlineData("metrics listen on ::1 port 9100", "::1", 9100, false)]
    [InlineData("metrics listen on localhost port 9154", "127.0.0.1", 9154, false)]
    [InlineData("metrics listen on 192.0.2.10 port 9100 public", "192.0.2.10", 9100, true)]
    [InlineData("metrics listen on 0.0.0.0 port 9100 public", "0.0.0.0", 9100, true)]
    public void Accepted_forms(string line, string address, int port, bool isPublic)
    {
        var metrics = ConfigAssert.Parse(line + "\n" + Rule).Metrics;
        Assert.NotNull(metrics);
        Assert.Equal(IPAddress.Parse(address), metrics.Address);
        Assert.Equal(port, metrics.Port);
        Assert.Equal(isPublic, metrics.Public);
    }

    [Fact]
    public void A_macro_gives_the_address() =>
        Assert.Equal(IPAddress.Loopback, ConfigAssert.Parse("addr = \"127.0.0.1\"\nmetrics listen on $addr port 9100\n" + Rule).Metrics!.Address);

    [Theory]
    [InlineData("metrics listen on 192.0.2.10 port 9100", "not a loopback address")]
    [InlineData("metrics listen on 0.0.0.0 port 9100", "add 'public'")]
    [InlineData("metrics listen on 127.0.0.1 port 9100 bogus", "bogus")]
    [InlineData("metrics listen on 127.0.0.1 port 9100 public extra", "extra")]
    [InlineData("metrics listen on 127.0.0.1", "expected 'port'")]
    [InlineData("metrics listen on 127.0.0.1 port 0", "invalid port '0'")]
    [InlineData("metrics listen on 127.0.0.1 port 70000", "invalid port '70000'")]
    [InlineData("metrics listen on mail.example port 9100", "not an IP address")]
    [InlineData("metrics on 127.0.0.1 port 9100", "expected 'listen'")]
    [InlineData("metrics listen 127.0.0.1 port 9100", "expected 'on'")]
    public void Refused_forms_at_their_line(string line, string fragment) =>
        ConfigAssert.SingleError(Rule + "\n" + line + "\n", 3, fragment);

    [Fact]
    public void Given_twice_is_refused_at_the_second() =>
        ConfigAssert.SingleError("metrics listen on 127.0.0.1 port 9100\n" + Rule + "metrics listen on 127.0.0.1 port 9101\n", 3, "given twice");
}
