using Smtpd.Config;

namespace Smtpd.Tests.Config;

public class ConfigValuesTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("35000000", 35000000L)]
    [InlineData("512b", 512L)]
    [InlineData("10k", 10L * 1024)]
    [InlineData("10K", 10L * 1024)]
    [InlineData("10m", 10L * 1024 * 1024)]
    [InlineData("35M", 35L * 1024 * 1024)]
    [InlineData("1G", 1L << 30)]
    [InlineData("1g", 1L << 30)]
    [InlineData("1.5M", 3L * 512 * 1024)]
    [InlineData("2T", 2L << 40)]
    public void Sizes(string text, long expected)
    {
        Assert.True(ConfigValues.TryParseSize(text, out long bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("10Q")]
    [InlineData("-1")]
    [InlineData("1 M")]
    [InlineData("99999999999999999999G")]
    public void BadSizes(string text) => Assert.False(ConfigValues.TryParseSize(text, out _));

    [Fact]
    public void MaxMessageSizeUsesTheSuffix()
    {
        var r = ConfigAssert.Parse("max-message-size 10M\nmatch for local reject");
        Assert.Equal(10L * 1024 * 1024, r.MaxMessageSize);
    }

    [Theory]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("4h", 4 * 3600)]
    [InlineData("4d", 4 * 86400)]
    public void Delays(string text, int seconds)
    {
        Assert.True(ConfigValues.TryParseDelay(text, out var delay));
        Assert.Equal(TimeSpan.FromSeconds(seconds), delay);
    }

    [Theory]
    [InlineData("4")]
    [InlineData("d")]
    [InlineData("4D")]
    [InlineData("-4d")]
    [InlineData("4w")]
    public void BadDelays(string text) => Assert.False(ConfigValues.TryParseDelay(text, out _));

    [Theory]
    [InlineData("25", 25)]
    [InlineData("smtp", 25)]
    [InlineData("submission", 587)]
    [InlineData("smtps", 465)]
    [InlineData("65535", 65535)]
    public void Ports(string text, int expected)
    {
        Assert.True(ConfigValues.TryParsePort(text, out int port));
        Assert.Equal(expected, port);
    }
}
