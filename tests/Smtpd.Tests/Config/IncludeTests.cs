using Smtpd.Config;

namespace Smtpd.Tests.Config;

public sealed class IncludeTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("smtpd-config-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void IncludedStatementsComeInPlaceAndKeepTheirFileName()
    {
        File.WriteAllText(Path.Combine(dir, "tables.conf"), "table aliases file:/etc/mail/aliases\n\nbogus");
        string main = Path.Combine(dir, "smtpd.conf");
        File.WriteAllText(main, """
            include "tables.conf"
            action local_mail mbox alias <aliases>
            match for local action local_mail
            """);
        var e = Assert.Throws<ConfigException>(() => ConfigParser.ParseFile(main));
        Assert.Equal($"{Path.Combine(dir, "tables.conf")}:3: unknown keyword 'bogus'", Assert.Single(e.Errors).ToString());

        File.WriteAllText(Path.Combine(dir, "tables.conf"), "table aliases file:/etc/mail/aliases\n");
        var r = ConfigParser.ParseFile(main);
        Assert.Equal("aliases", r.Actions["local_mail"].AliasTable);
        Assert.Equal(main, r.Source);
        Assert.Equal(new ConfigLocation(main, 2), r.Actions["local_mail"].Location);
    }

    [Fact]
    public void SeedRulesOnTheSameLineOfTwoFilesGetDistinctActions()
    {
        File.WriteAllText(Path.Combine(dir, "rules.conf"), "accept for local deliver to mbox\n");
        string main = Path.Combine(dir, "smtpd.conf");
        File.WriteAllText(main, "accept for any relay\ninclude \"rules.conf\"\n");
        var r = ConfigParser.ParseFile(main);
        Assert.Equal(["rule-1", "rule-rules.conf-1"], r.Rules.Select(x => x.ActionName));
        Assert.Equal(DeliveryMethod.Relay, r.Actions["rule-1"].Method);
        Assert.Equal(DeliveryMethod.Mbox, r.Actions["rule-rules.conf-1"].Method);
    }

    [Fact]
    public void MissingIncludeIsAnErrorAtTheIncludeLine()
    {
        string main = Path.Combine(dir, "smtpd.conf");
        File.WriteAllText(main, "match for local reject\ninclude \"/nonexistent/x.conf\"\n");
        var e = Assert.Throws<ConfigException>(() => ConfigParser.ParseFile(main));
        Assert.StartsWith($"{main}:2: failed to include file /nonexistent/x.conf", Assert.Single(e.Errors).ToString());
    }

    [Fact]
    public void IncludeLoopIsAnError()
    {
        string main = Path.Combine(dir, "smtpd.conf");
        File.WriteAllText(main, $"match for local reject\ninclude \"{main}\"\n");
        var e = Assert.Throws<ConfigException>(() => ConfigParser.ParseFile(main));
        Assert.Contains("include loop", Assert.Single(e.Errors).Message);
    }
}
