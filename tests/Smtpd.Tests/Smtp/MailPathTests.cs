using Smtpd.Smtp;

namespace Smtpd.Tests.Smtp;

public class MailPathTests
{
    [Theory]
    [InlineData("<alice@example.org>", "alice@example.org")]
    [InlineData(" <alice@example.org>", "alice@example.org")]
    [InlineData(" \t <alice@example.org>", "alice@example.org")]
    [InlineData("<>", "")]
    [InlineData("<@relay.example:alice@example.org>", "alice@example.org")]
    [InlineData("<\"john doe\"@example.org>", "\"john doe\"@example.org")]
    [InlineData("<a@[127.0.0.1]>", "a@[127.0.0.1]")]
    [InlineData("<\"a\\\"b\\\\\"@example.org>", "\"a\\\"b\\\\\"@example.org")]
    [InlineData("<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]")]
    [InlineData("<jörg@bücher.example>", "jörg@bücher.example")]
    [InlineData("<a@пример.испытание>", "a@пример.испытание")]
    public void Parses_valid_senders(string args, string expected)
    {
        Assert.True(MailPath.TryParse(args, isSender: true, out var path));
        Assert.Equal(expected, path.Address.ToString());
    }

    [Theory]
    [InlineData("alice@example.org")]
    [InlineData("<alice@>")]
    [InlineData("<alice@exa mple.org>")]
    [InlineData("<a..b@example.org>")]
    [InlineData("<alice@-bad.org>")]
    [InlineData("<alice")]
    [InlineData("<\"a\"\"b\"@example.org>")]
    [InlineData("<\"a\" \"b\"@example.org>")]
    [InlineData("<\"a\\\"@example.org>")]
    [InlineData("<a@[1[2.0.2.1]>")]
    [InlineData("<a@[1\\2.0.2.1]>")]
    [InlineData("<ol@example.\u0385type>")]
    [InlineData("<a@mail.\u2603.example>")]
    public void Rejects_bad_syntax(string args) =>
        Assert.False(MailPath.TryParse(args, isSender: true, out _));

    [Fact]
    public void Recipient_must_not_be_null_but_postmaster_needs_no_domain()
    {
        Assert.False(MailPath.TryParse("<>", isSender: false, out _));
        Assert.True(MailPath.TryParse("<Postmaster>", isSender: false, out var pm));
        Assert.Equal("Postmaster", pm.Address.User);
        Assert.False(MailPath.TryParse("<bob>", isSender: false, out _));
    }

    // OpenSMTPD's smtp_mailaddr: a local part alone gets the session's name, for senders and recipients alike.
    [Theory]
    [InlineData("<noat>", true, "noat@mx.example")]
    [InlineData(" <noat> SIZE=10", true, "noat@mx.example")]
    [InlineData("<postmaster>", false, "postmaster@mx.example")]
    [InlineData("<bob>", false, "bob@mx.example")]
    [InlineData("<>", true, "")]
    [InlineData("<bob@x.example>", false, "bob@x.example")]
    public void An_address_without_a_domain_gets_the_local_domain(string args, bool isSender, string expected)
    {
        Assert.True(MailPath.TryParse(args, isSender, out var path, "mx.example"));
        Assert.Equal(expected, path.Address.ToString());
    }

    [Fact]
    public void Splits_parameters()
    {
        Assert.True(MailPath.TryParse("<a@b.org> SIZE=1000 BODY=8BITMIME", isSender: true, out var p));
        Assert.Equal("1000", p.Parameters["size"]);
        Assert.Equal("8BITMIME", p.Parameters["BODY"]);
    }
}
