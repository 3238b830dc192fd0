using Smtpd.Config;

namespace Smtpd.Tests.Config;

public class ConfigParserTests
{
    static Ruleset Parse(string text, Dictionary<string, string>? macros = null) => ConfigParser.Parse(text, "smtpd.conf", macros);

    static ConfigError SingleError(string text)
    {
        var ex = Assert.Throws<ConfigException>(() => Parse(text));
        return Assert.Single(ex.Errors);
    }

    [Fact]
    public void Modern_grammar_compiles_actions_and_rules_in_order()
    {
        var r = Parse("""
            hostname mx.example.org
            listen on 127.0.0.1 port 2525 tag IN hostname in.example.org
            table domains { example.org, "example.net" }
            action "local" maildir "~/Maildir"
            action "out" relay host smtp://10.0.0.1:25 backup mx mx2.example.org
            match from any for domain <domains> action "local"
            match from local for any action "out"
            match from any reject
            """);
        Assert.Equal("mx.example.org", r.Hostname);
        var l = Assert.Single(r.Listeners);
        Assert.Equal(("127.0.0.1", 2525, "IN", "in.example.org"), (l.Interface, l.Port, l.Tag, l.Hostname));
        Assert.Equal(["example.org", "example.net"], r.Tables["domains"].List);
        Assert.Equal(DeliveryMethod.Maildir, r.Actions["local"].Method);
        Assert.Equal("~/Maildir", r.Actions["local"].Path);
        Assert.Equal("smtp://10.0.0.1:25", r.Actions["out"].Host);
        Assert.Equal("mx2.example.org", r.Actions["out"].Backup);
        Assert.Equal(3, r.Rules.Count);
        Assert.Equal((FromKind.Any, ForKind.Domain, "domains"), (r.Rules[0].From.Kind, r.Rules[0].For.Kind, r.Rules[0].For.Table));
        Assert.Equal("out", r.Rules[1].ActionName);
        Assert.True(r.Rules[2].Reject);
        Assert.Equal(ForKind.Local, r.Rules[2].For.Kind); // "for" omitted means "for local"
        Assert.Equal(8, r.Rules[2].Location.Line);
    }

    [Fact]
    public void Seed_grammar_synthesizes_an_action_per_accept_rule()
    {
        var r = Parse("""
            listen on lo0
            table poolp { poolp.org, opensmtpd.org }
            accept for local deliver to mbox
            accept from any for domain <poolp> relay backup mx2.poolp.org
            accept tagged DKIM for any relay via smtp://127.0.0.1:10028
            reject from any for domain "spam.example"
            """);
        Assert.Equal(4, r.Rules.Count);
        Assert.Equal(DeliveryMethod.Mbox, r.Actions[r.Rules[0].ActionName!].Method);
        Assert.Equal((FromKind.Local, ForKind.Local), (r.Rules[0].From.Kind, r.Rules[0].For.Kind));
        var backup = r.Actions[r.Rules[1].ActionName!];
        Assert.Equal((DeliveryMethod.Relay, "mx2.poolp.org"), (backup.Method, backup.Backup));
        Assert.Equal("DKIM", r.Rules[2].Tag);
        Assert.Equal("smtp://127.0.0.1:10028", r.Actions[r.Rules[2].ActionName!].Host);
        Assert.True(r.Rules[3].Reject);
    }

    [Fact]
    public void Maps_spanning_lines_and_inline_virtual_tables()
    {
        var r = Parse("""
            table usr { "alice" = "100:100:/var/vusers/alice",
                        "bob" = "100:100:/var/vusers/bob" }
            accept from any for domain "wonderland.org" virtual { "@" = alice } deliver to maildir
            """);
        Assert.Equal("100:100:/var/vusers/bob", r.Tables["usr"].Map["bob"]);
        var action = r.Actions[r.Rules[0].ActionName!];
        Assert.Equal("alice", r.Tables[action.VirtualTable!].Map["@"]);
    }

    [Fact]
    public void Macros_expand_and_command_line_definitions_win()
    {
        const string text = """
            lan = "192.168.0.1"
            port = 2525
            listen on $lan port $port
            action "l" mbox
            match from local for local action "l"
            """;
        Assert.Equal(("192.168.0.1", 2525), (Parse(text).Listeners[0].Interface, Parse(text).Listeners[0].Port));
        var overridden = Parse(text, new() { ["lan"] = "127.0.0.1" });
        Assert.Equal("127.0.0.1", overridden.Listeners[0].Interface);
    }

    [Theory]
    [InlineData("max-message-size 10M", 10L << 20)]
    [InlineData("max-message-size 512k", 512L << 10)]
    [InlineData("max-message-size 1000", 1000L)]
    [InlineData("smtp max-message-size 1G", 1L << 30)]
    public void Sizes_take_suffixes(string line, long bytes) =>
        Assert.Equal(bytes, Parse(line).MaxMessageSize);

    [Fact]
    public void Expiry_and_queue_options()
    {
        var r = Parse("queue ttl 2d\nqueue compression\nqueue encryption 0123456789abcdef0123456789abcdef\nbounce warn-interval 1h, 6h");
        Assert.Equal(TimeSpan.FromDays(2), r.Expire);
        Assert.True(r.QueueCompression);
        Assert.Equal("0123456789abcdef0123456789abcdef", r.QueueEncryptionKey);
        Assert.Equal([TimeSpan.FromHours(1), TimeSpan.FromHours(6)], r.BounceWarnIntervals);
    }

    [Theory]
    [InlineData("listen on lo\nfrobnicate\n", 2, "unknown keyword")]
    [InlineData("listen on lo\n\nlisten on lo port 99999\n", 3, "invalid port")]
    [InlineData("action \"a\" mbox\nmatch for any action \"b\"\n", 2, "undefined action")]
    [InlineData("match from src <nets> for any reject\n", 1, "undefined table")]
    [InlineData("action \"a\" mbox\naction \"a\" maildir\n", 2, "already defined")]
    [InlineData("table t { a }\ntable t { b }\n", 2, "already defined")]
    [InlineData("listen on $nowhere\n", 1, "macro 'nowhere' not defined")]
    [InlineData("max-message-size lots\n", 1, "invalid size")]
    [InlineData("action \"a\" teleport\n", 1, "unknown delivery method")]
    [InlineData("listen on lo frobs\n", 1, "unknown listen option")]
    [InlineData("accept for any\n", 1, "deliver to")]
    [InlineData("action \"a\" relay alias <x>\n", 1, "does not apply")]
    public void Errors_name_file_and_line(string text, int line, string message)
    {
        var error = SingleError(text);
        Assert.Equal(new ConfigLocation("smtpd.conf", line), error.Location);
        Assert.Contains(message, error.Message);
        Assert.StartsWith($"smtpd.conf:{line}: ", error.ToString());
    }

    [Fact]
    public void All_errors_are_reported_together()
    {
        var ex = Assert.Throws<ConfigException>(() => Parse("bogus one\nlisten on lo\nbogus two\n"));
        Assert.Equal([1, 3], ex.Errors.Select(e => e.Location.Line));
    }

    [Fact]
    public void Line_continuation_and_comments()
    {
        var r = Parse("# a comment\naccept from any for domain example.org relay \\\n    backup mx4.example.org # trailing\naccept for local deliver to mbox\n");
        Assert.Equal(2, r.Rules.Count);
        Assert.Equal("mx4.example.org", r.Actions[r.Rules[0].ActionName!].Backup);
        Assert.Equal(4, r.Rules[1].Location.Line);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Default_configuration_parses(bool privileged)
    {
        var r = ConfigParser.Parse(DefaultConfig.Text(privileged), "(default)");
        Assert.Equal("localhost", Assert.Single(r.Listeners).Interface);
        Assert.Null(r.Listeners[0].Port);
        Assert.Equal(privileged ? DeliveryMethod.Mbox : DeliveryMethod.Maildir, r.Actions["local"].Method);
        Assert.Equal((FromKind.Local, ForKind.Local, "local"), (r.Rules[0].From.Kind, r.Rules[0].For.Kind, r.Rules[0].ActionName));
        Assert.Equal((FromKind.Local, ForKind.Any, "relay"), (r.Rules[1].From.Kind, r.Rules[1].For.Kind, r.Rules[1].ActionName));
    }
}
