using Smtpd.Config;

namespace Smtpd.Tests.Config;

/// <summary>filter and proc declarations (smtpd.conf(5) "MAIL FILTERING", and our dkim-sign).</summary>
public sealed class FilterConfigTests
{
    [Fact]
    public void EveryKindOfFilterIsTyped()
    {
        var r = ConfigAssert.Parse("""
            table badsenders { "@bad.example" }
            proc "rspamd" "/usr/libexec/opensmtpd/filter-rspamd"
            filter "rspamd" proc "rspamd"
            filter "py" proc-exec "python3 /etc/mail/filter.py"
            filter "spam" phase mail-from match !rdns mail-from <badsenders> helo regex "^x" junk
            filter "sign" dkim-sign domain example.org selector s1 key "/etc/mail/dkim.key"
            filter "all" chain { "spam", "rspamd", "py", "sign" }
            listen on lo filter "all"
            action "local" mbox
            match from local for local action "local"
            """);
        Assert.Equal(new FilterSpec.Process("/usr/libexec/opensmtpd/filter-rspamd"), r.Procs["rspamd"].Spec);
        Assert.Equal(new FilterSpec.UsesProc("rspamd"), r.Filters["rspamd"].Spec);
        Assert.Equal("python3 /etc/mail/filter.py", Assert.IsType<FilterSpec.Process>(r.Filters["py"].Spec).Command);
        var spam = Assert.IsType<FilterSpec.Builtin>(r.Filters["spam"].Spec);
        Assert.Equal("mail-from", spam.Phase);
        Assert.Equal(FilterDecision.Junk, spam.Decision);
        Assert.Equal([
            new FilterCondition(FilterConditionKind.Rdns, Negated: true),
            new FilterCondition(FilterConditionKind.MailFrom, false, Table: "badsenders"),
            new FilterCondition(FilterConditionKind.Helo, false, Regex: true, Pattern: "^x"),
        ], spam.Conditions);
        var sign = Assert.IsType<FilterSpec.DkimSign>(r.Filters["sign"].Spec);
        Assert.Equal(("example.org", "s1", "/etc/mail/dkim.key", "rsa-sha256"), (sign.Domain, sign.Selector, sign.KeyFile, sign.Algorithm));
        Assert.Contains("From", sign.Headers);
        Assert.Equal(["spam", "rspamd", "py", "sign"], Assert.IsType<FilterSpec.Chain>(r.Filters["all"].Spec).Filters);
        Assert.Empty(RulesetSupport.Unsupported(r));
    }

    [Theory]
    [InlineData("filter f phase bogus match rdns junk", "invalid phase")]
    [InlineData("filter f phase connect match rdns reject \"250 fine\"", "invalid reply")]
    [InlineData("filter f phase connect match rdns", "expected a decision")]
    [InlineData("filter f phase connect match junk", "expected a condition")]
    [InlineData("filter f phase commit match rdns junk", "junk cannot be decided at phase commit")]
    [InlineData("filter f phase helo match helo regex \"(\" junk", "invalid regex")]
    [InlineData("filter f chain { g }", "undefined filter 'g'")]
    [InlineData("filter f proc nope", "undefined proc 'nope'")]
    [InlineData("filter f dkim-sign domain example.org selector s", "needs domain, selector and key")]
    [InlineData("filter f dkim-sign domain d selector s key k algorithm rsa-sha1", "unknown DKIM algorithm")]
    public void MistakesAreNamedAtTheirLine(string line, string fragment) =>
        ConfigAssert.SingleError(line, 1, fragment);

    [Fact]
    public void AListenerMayNameAnInlineChain()
    {
        var r = ConfigAssert.Parse("""
            filter "a" phase connect match !rdns junk
            filter "b" phase helo match helo regex "x" junk
            listen on lo filter { "a", "b" }
            action "local" mbox
            match from local for local action "local"
            """);
        string name = r.Listeners[0].Options.Single()["filter ".Length..];
        Assert.Equal(["a", "b"], Assert.IsType<FilterSpec.Chain>(r.Filters[name].Spec).Filters);
    }

    [Fact]
    public void FilterUsersAreRefusedUntilPrivilegesAreSeparated()
    {
        var r = ConfigAssert.Parse("filter f proc-exec \"filter-dkimsign\" user _dkimsign group _dkimsign\nlisten on lo filter f\naction \"l\" mbox\nmatch for local action \"l\"");
        Assert.Contains(RulesetSupport.Unsupported(r), e => e.Message.Contains("user, group or chroot"));
    }

    [Fact]
    public void AMilterTakesItsAddressTimeoutsAndFailureAction()
    {
        var r = ConfigAssert.Parse("""
            filter "rspamd" milter "inet:127.0.0.1:11332" connect-timeout 5s command-timeout 10s eom-timeout 2m on-failure accept
            filter "dkim" milter "unix:/run/opendkim/opendkim.sock"
            filter "v6" milter "inet6:[::1]:8891" on-failure reject
            filter "sign" dkim-sign domain example.org selector s1 key "/etc/mail/dkim.key"
            filter "all" chain { "rspamd", "dkim", "sign" }
            listen on lo filter "all"
            listen on lo port 587 filter "v6"
            action "local" mbox
            match from local for local action "local"
            """);
        Assert.Equal(new FilterSpec.Milter("inet:127.0.0.1:11332", TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(2), MilterFailureAction.Accept),
            r.Filters["rspamd"].Spec);
        // Postfix's defaults: 30 s to connect, 30 s per command, 5 min for the end of message; tempfail when it fails.
        Assert.Equal(new FilterSpec.Milter("unix:/run/opendkim/opendkim.sock", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(5), MilterFailureAction.TempFail),
            r.Filters["dkim"].Spec);
        Assert.Equal(MilterFailureAction.Reject, Assert.IsType<FilterSpec.Milter>(r.Filters["v6"].Spec).OnFailure);
        Assert.True(MilterAddress.TryParse("inet6:[::1]:8891", out var v6));
        Assert.Equal(("::1", 8891), (v6.Host, v6.Port));
        Assert.Empty(RulesetSupport.Unsupported(r));
    }

    [Theory]
    [InlineData("filter m milter \"inet:127.0.0.1\"", "invalid milter address")]
    [InlineData("filter m milter \"tcp:127.0.0.1:25\"", "invalid milter address")]
    [InlineData("filter m milter \"unix:relative.sock\"", "invalid milter address")]
    [InlineData("filter m milter \"inet:127.0.0.1:99999\"", "invalid milter address")]
    [InlineData("filter m milter \"inet:127.0.0.1:8891\" eom-timeout 10", "invalid delay")]
    [InlineData("filter m milter \"inet:127.0.0.1:8891\" command-timeout 0s", "must be more than 0s")]
    [InlineData("filter m milter \"inet:127.0.0.1:8891\" on-failure quarantine", "invalid on-failure action")]
    [InlineData("filter m milter \"inet:127.0.0.1:8891\" read-timeout 5s", "unknown keyword 'read-timeout' in filter m milter")]
    [InlineData("filter m milter", "missing argument after 'milter'")]
    public void MilterMistakesAreNamedAtTheirLine(string line, string fragment) =>
        ConfigAssert.SingleError(line, 1, fragment);

    [Fact]
    public void AMilterAfterOurDkimSignatureIsRefused() =>
        ConfigAssert.SingleError("""
            filter "sign" dkim-sign domain example.org selector s1 key "/etc/mail/dkim.key"
            filter "m" milter "inet:127.0.0.1:8891"
            filter "all" chain { "sign", "m" }
            """, 3, "milter 'm' must come before dkim-sign 'sign'");
}
