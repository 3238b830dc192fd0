using Smtpd.Config;

namespace Smtpd.Tests.Config;

/// <summary>Malformed input gives a ConfigException with a located message, never another exception.</summary>
public class ConfigRobustnessTests
{
    [Theory]
    [InlineData("{")]
    [InlineData("}")]
    [InlineData("<")]
    [InlineData("=")]
    [InlineData("$")]
    [InlineData("\"")]
    [InlineData("!")]
    [InlineData("table")]
    [InlineData("table t")]
    [InlineData("table t {")]
    [InlineData("table t { a = }")]
    [InlineData("table t { = b }")]
    [InlineData("table t { a } extra")]
    [InlineData("match !")]
    [InlineData("match from src <")]
    [InlineData("match from src <t")]
    [InlineData("match for domain")]
    [InlineData("match tag")]
    [InlineData("accept")]
    [InlineData("accept for")]
    [InlineData("accept for any deliver")]
    [InlineData("accept for any deliver to")]
    [InlineData("accept for any relay via")]
    [InlineData("reject for any deliver to mbox")]
    [InlineData("action")]
    [InlineData("action a")]
    [InlineData("action a relay host")]
    [InlineData("listen")]
    [InlineData("listen on lo port 25 port 26")]
    [InlineData("listen on lo filter {")]
    [InlineData("smtp limit")]
    [InlineData("smtp limit max-mails x")]
    [InlineData("bounce warn-interval 1h, ")]
    [InlineData("bounce warn-interval 1h, 2h, 3h, 4h, 5h")]
    [InlineData("queue")]
    [InlineData("pki")]
    [InlineData("pki x dhe bogus")]
    [InlineData("include")]
    [InlineData("x = ")]
    [InlineData("\"a b\" = c")]
    [InlineData("filter f")]
    [InlineData("mda limit 10")]
    [InlineData("srs")]
    [InlineData("(")]
    public void GarbageGivesALocatedError(string text)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigParser.Parse(text + "\nmatch for local reject", "g.conf"));
        Assert.All(e.Errors, error => Assert.Equal("g.conf", error.Location.File));
        Assert.All(e.Errors, error => Assert.Equal(1, error.Location.Line));
    }
}
