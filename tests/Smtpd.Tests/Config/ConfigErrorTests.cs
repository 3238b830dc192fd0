using Smtpd.Config;

namespace Smtpd.Tests.Config;

/// <summary>Each kind of error is reported as file:line: message, at the right line.</summary>
public class ConfigErrorTests
{
    [Fact]
    public void UnknownKeyword() =>
        ConfigAssert.SingleError("match for local reject\n\nfrobnicate on\n", 3, "unknown keyword 'frobnicate'");

    [Fact]
    public void UnknownListenOption() =>
        ConfigAssert.SingleError("listen on lo0 bogus\nmatch for local reject", 1, "unknown keyword 'bogus' in listen on lo0");

    [Fact]
    public void MissingArgument() =>
        ConfigAssert.SingleError("match for local reject\nlisten on lo port\n", 2, "missing argument after 'port'");

    [Fact]
    public void MissingInterface() =>
        ConfigAssert.SingleError("listen on\nmatch for local reject", 1, "missing argument after 'listen on'");

    [Fact]
    public void UndefinedTable() =>
        ConfigAssert.SingleError("action a mbox alias <aliases>\nmatch for local reject", 1, "undefined table <aliases>");

    [Fact]
    public void TableMustBeDeclaredBeforeUse() =>
        ConfigAssert.SingleError("""
            accept for local alias <aliases> deliver to mbox
            table aliases db:/etc/mail/aliases.db
            """, 1, "undefined table <aliases>");

    [Fact]
    public void UndefinedTableOnAContinuationLineIsReportedThere() =>
        ConfigAssert.SingleError("""
            listen on lo
            accept for any relay via smtp://x \
                auth <secrets>
            """, 3, "undefined table <secrets>");

    [Fact]
    public void UndefinedAction() =>
        ConfigAssert.SingleError("action a mbox\n\nmatch for local action b\n", 3, "undefined action 'b'");

    [Fact]
    public void UndefinedMacro() =>
        ConfigAssert.SingleError("match for local reject\nlisten on $nowhere\n", 2, "undefined macro $nowhere");

    [Fact]
    public void DuplicateTable()
    {
        var errors = ConfigAssert.Errors("table t { a }\nmatch for local reject\ntable t { b }\n");
        Assert.Equal(["smtpd.conf:3: duplicate table <t> (first defined at smtpd.conf:1)"], errors);
    }

    [Fact]
    public void DuplicateAction() =>
        ConfigAssert.SingleError("action a mbox\naction a relay\nmatch for local action a", 2, "duplicate action 'a'");

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("http")]
    [InlineData("-1")]
    public void BadPort(string port) =>
        ConfigAssert.SingleError($"match for local reject\nlisten on lo port {port}", 2, "invalid port");

    [Theory]
    [InlineData("10X")]
    [InlineData("M")]
    [InlineData("-5")]
    [InlineData("1e6")]
    public void BadSize(string size) =>
        ConfigAssert.SingleError($"max-message-size {size}\nmatch for local reject", 1, $"invalid size '{size}'");

    [Fact]
    public void BadDelay() =>
        ConfigAssert.SingleError("queue ttl 4w\nmatch for local reject", 1, "invalid delay '4w'");

    [Fact]
    public void AllErrorsAreReportedNotJustTheFirst()
    {
        var errors = ConfigAssert.Errors("""
            listen on lo port 99999
            table t { a }
            table t { b }
            bogus
            match for local action nowhere
            action ok mbox
            match for local action ok
            match from nowhere action ok
            """);
        Assert.Equal(5, errors.Count);
        Assert.StartsWith("smtpd.conf:1: invalid port", errors[0]);
        Assert.StartsWith("smtpd.conf:3: duplicate table", errors[1]);
        Assert.StartsWith("smtpd.conf:4: unknown keyword 'bogus'", errors[2]);
        Assert.StartsWith("smtpd.conf:5: undefined action 'nowhere'", errors[3]);
        Assert.StartsWith("smtpd.conf:8: unknown keyword 'nowhere' after 'from'", errors[4]);
    }

    [Fact]
    public void ExceptionMessageListsEveryError()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigParser.Parse("bogus\nlisten on\n", "x.conf"));
        Assert.Contains("x.conf:1: unknown keyword 'bogus'", e.Message);
        Assert.Contains("x.conf:2: missing argument after 'listen on'", e.Message);
    }

    [Fact]
    public void NoRulesIsAnError() =>
        ConfigAssert.SingleError("listen on lo\n", 1, "no rules");

    [Fact]
    public void AcceptWithoutForIsAnError() =>
        ConfigAssert.SingleError("accept from any deliver to mbox", 1, "needs 'for any'");

    [Fact]
    public void MatchWithoutDecisionIsAnError() =>
        ConfigAssert.SingleError("match from any for any", 1, "match needs 'action NAME' or 'reject'");

    [Fact]
    public void UnterminatedQuote() =>
        ConfigAssert.SingleError("match for local reject\nhostname \"mx", 2, "unterminated quoted string");

    [Fact]
    public void MissingClosingBrace() =>
        ConfigAssert.SingleError("match for local reject\ntable t { a, b\n", 2, "missing '}'");

    [Fact]
    public void EmptyTable() =>
        ConfigAssert.SingleError("table t { }\nmatch for local reject", 1, "at least one value");

    [Fact]
    public void MixedTable() =>
        ConfigAssert.SingleError("table t { a, b = c }\nmatch for local reject", 1, "mixes values and key = value pairs");

    [Fact]
    public void RelativeTablePath() =>
        ConfigAssert.SingleError("table t file:aliases\nmatch for local reject", 1, "path must be absolute");

    [Fact]
    public void UnknownTableBackend() =>
        ConfigAssert.SingleError("table t nosuchbackend:/etc/mail/x.conf\nmatch for local reject", 1, "unknown backend 'nosuchbackend'");

    [Fact]
    public void ReservedWordAsValueMustBeQuoted()
    {
        ConfigAssert.SingleError("action relay relay\nmatch for any reject", 1, "reserved word");
        Assert.Contains("relay", ConfigAssert.Parse("action \"relay\" relay\nmatch for any action \"relay\"").Actions.Keys);
    }

    [Fact]
    public void AuthWithoutHost() =>
        ConfigAssert.SingleError("table s { a = b }\naction r relay auth <s>\nmatch for any action r", 2, "auth may not be specified without host");

    [Fact]
    public void UserWithMbox() =>
        ConfigAssert.SingleError("action a mbox user vmail\nmatch for any action a", 1, "user may not be specified for mbox");

    [Fact]
    public void UserRoot() =>
        ConfigAssert.SingleError("action a maildir user root\nmatch for any action a", 1, "delivering as root is not allowed");

    [Fact]
    public void LocalOptionOnRelay() =>
        ConfigAssert.SingleError("table t { a = b }\naction r relay alias <t>\nmatch for any action r", 2, "unknown option 'alias' for relay action r");

    [Fact]
    public void DuplicateMatchOption() =>
        ConfigAssert.SingleError("match from any from local for any reject", 1, "from already specified");

    [Fact]
    public void UndefinedPki() =>
        ConfigAssert.SingleError("listen on lo tls pki nope\nmatch for any reject", 1, "undefined pki 'nope'");

    [Fact]
    public void PkiWithoutKey() =>
        ConfigAssert.SingleError("pki mxpki cert \"/c\"\nmatch for any reject", 1, "pki mxpki has no key");

    [Fact]
    public void TwoTlsModes() =>
        ConfigAssert.SingleError("listen on lo tls smtps\nmatch for any reject", 1, "TLS mode already specified");

    [Fact]
    public void UnsupportedScheduler() =>
        ConfigAssert.SingleError("scheduler limit max-inflight 10\nmatch for any reject", 1, "not supported yet");

    [Fact]
    public void MissingFile()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigParser.ParseFile("/nonexistent/smtpd.conf"));
        Assert.StartsWith("/nonexistent/smtpd.conf:0: cannot read file", Assert.Single(e.Errors).ToString());
    }
}
