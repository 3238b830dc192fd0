using Smtpd.Config;

namespace Smtpd.Tests.Config;

public class MacroTests
{
    [Fact]
    public void MacroExpandsInUnquotedArguments()
    {
        var r = ConfigAssert.Parse("""
            lan_addr = "192.168.0.1"
            listen on $lan_addr
            listen on $lan_addr tls auth
            match for local reject
            """);
        Assert.Equal(["192.168.0.1", "192.168.0.1"], r.Listeners.Select(l => l.Interface));
        Assert.Equal(["tls", "auth"], r.Listeners[1].Options);
    }

    [Fact]
    public void MacroValueIsSplitIntoTokensAgain()
    {
        var r = ConfigAssert.Parse("""
            opts = "port 2525 tag T"
            listen on lo $opts
            match for local reject
            """);
        Assert.Equal(2525, r.Listeners[0].Port);
        Assert.Equal("T", r.Listeners[0].Tag);
    }

    [Fact]
    public void MacroIsNotExpandedInsideQuotes()
    {
        var r = ConfigAssert.Parse("""
            cmd = procmail
            action a mda "/usr/bin/$cmd -f -"
            action b mda $cmd
            match for local action a
            """);
        Assert.Equal("/usr/bin/$cmd -f -", r.Actions["a"].Path);
        Assert.Equal("procmail", r.Actions["b"].Path);
    }

    [Fact]
    public void CommandLineOverrideWinsOverTheFile()
    {
        const string text = """
            p = 25
            listen on lo port $p
            match for local reject
            """;
        Assert.Equal(25, ConfigAssert.Parse(text).Listeners[0].Port);
        var r = ConfigAssert.Parse(text, new Dictionary<string, string> { ["p"] = "10025" });
        Assert.Equal(10025, r.Listeners[0].Port);
    }

    [Fact]
    public void CommandLineMacroNeedsNoDefinitionInTheFile()
    {
        var r = ConfigAssert.Parse("hostname $name\nmatch for local reject", new Dictionary<string, string> { ["name"] = "mx.test" });
        Assert.Equal("mx.test", r.Hostname);
    }

    [Fact]
    public void MacroDefinedLaterIsUndefinedEarlier()
    {
        ConfigAssert.SingleError("""
            listen on $iface
            iface = lo0
            match for local reject
            """, 1, "undefined macro $iface");
    }

    [Fact]
    public void RedefinitionReplacesTheValueForLaterLines()
    {
        var r = ConfigAssert.Parse("""
            p = 1025
            listen on lo port $p
            p = 1026
            listen on lo port $p
            match for local reject
            """);
        Assert.Equal([1025, 1026], r.Listeners.Select(l => l.Port!.Value));
    }

    [Fact]
    public void ReservedWordIsNotAMacroName()
    {
        ConfigAssert.SingleError("port = 25\nmatch for local reject", 1, "reserved word");
    }
}
