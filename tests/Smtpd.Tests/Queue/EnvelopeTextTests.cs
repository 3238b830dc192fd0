using Smtpd.Queue;

namespace Smtpd.Tests.Queue;

public class EnvelopeTextTests
{
    static Envelope Sample() => new()
    {
        Id = 0x90fa32a23acab696,
        Dispatcher = "local",
        Type = EnvelopeType.Mda,
        SmtpName = "mx.example.org",
        Helo = "client.example.com",
        Hostname = "localhost",
        SockAddr = "127.0.0.1",
        Sender = "alice@example.com",
        Rcpt = "Bob+tag@example.org",
        Dest = "bob@example.org",
        MdaUser = "bob",
        MdaSubaddress = "tag",
        CreationTime = DateTimeOffset.FromUnixTimeSeconds(1363275217),
        Ttl = 345600,
        Retry = 2,
        LastTry = DateTimeOffset.FromUnixTimeSeconds(1363289617),
        ErrorLine = "451 4.3.0 try later",
        EscClass = 4,
        EscCode = 30,
    };

    [Fact]
    public void A_quarantine_is_written_only_while_held_and_read_back()
    {
        var plain = Sample();
        Assert.DoesNotContain("quarantine", EnvelopeText.Format(plain));
        Assert.Null(EnvelopeText.Parse(plain.Id, EnvelopeText.Format(plain)).Quarantine);

        var held = plain with { Quarantine = "looks\nodd" };
        string text = EnvelopeText.Format(held);
        Assert.EndsWith("\nquarantine: looks odd\n", text);
        Assert.Equal("looks odd", EnvelopeText.Parse(held.Id, text).Quarantine);
        // A reason an editor emptied still holds the mail.
        Assert.Equal("", EnvelopeText.Parse(held.Id, text.Replace("quarantine: looks odd", "quarantine:")).Quarantine);
    }

    [Fact]
    public void Round_trips_and_is_readable()
    {
        var e = Sample();
        string text = EnvelopeText.Format(e);
        Assert.StartsWith("version: 3\n", text);
        Assert.Contains("\nrcpt: Bob+tag@example.org\n", text);
        Assert.Contains("\nmda-user: bob\n", text);
        Assert.Contains("\nctime: 1363275217\n", text);
        // OpenSMTPD 6.8's lines: dsn-notify always, the failure's class and code once one is recorded.
        Assert.Contains("\nretry: 2\ndsn-notify: 0\nesc-class: 4\nesc-code: 30\nmda-subaddress: tag\n", text);
        Assert.Equal(e, EnvelopeText.Parse(e.Id, text));
    }

    [Fact]
    public void No_failure_yet_writes_no_esc_lines()
    {
        string text = EnvelopeText.Format(Sample() with { EscClass = 0, EscCode = 0, Retry = 0, ErrorLine = null });
        Assert.Contains("\ndsn-notify: 0\n", text);
        Assert.DoesNotContain("esc-", text);
    }

    [Fact]
    public void A_file_from_an_older_version_without_the_new_lines_loads()
    {
        string text = EnvelopeText.Format(Sample());
        string old = string.Join('\n', text.Split('\n').Where(l => !l.StartsWith("dsn-notify:") && !l.StartsWith("esc-")));
        var parsed = EnvelopeText.Parse(1, old);
        Assert.Equal((DsnNotify.None, (byte)0, (byte)0), (parsed.DsnNotify, parsed.EscClass, parsed.EscCode));
        Assert.Equal("451 4.3.0 try later", parsed.ErrorLine);
    }

    [Fact]
    public void Null_sender_round_trips()
    {
        var e = Sample() with { Sender = "" };
        Assert.Equal("", EnvelopeText.Parse(e.Id, EnvelopeText.Format(e)).Sender);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage without colon")]
    [InlineData("version: 3\ndispatcher: x\n")]
    [InlineData("version: 99\n")]
    public void Corrupt_text_is_a_format_error(string text) =>
        Assert.Throws<FormatException>(() => EnvelopeText.Parse(1, text));

    [Fact]
    public void A_newline_in_a_value_cannot_inject_a_key()
    {
        var e = Sample() with { ErrorLine = "550 no\nmda-user: root" };
        var parsed = EnvelopeText.Parse(e.Id, EnvelopeText.Format(e));
        Assert.Equal("bob", parsed.MdaUser);
    }
}
