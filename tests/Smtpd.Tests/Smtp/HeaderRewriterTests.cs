using System.Buffers;
using System.Text;
using Smtpd.Smtp;

namespace Smtpd.Tests.Smtp;

// The header section as OpenSMTPD's smtp_tx_dataline leaves it, fed through the DataReader in
// small pieces as the network gives it.
public class HeaderRewriterTests
{
    static readonly DateTimeOffset When = new(2026, 12, 7, 2, 6, 29, TimeSpan.Zero);

    static string Run(string message, bool addMissing)
    {
        var data = new DataReader(1 << 20) { Headers = new HeaderRewriter("listener.example", addMissing, When) };
        var output = new ArrayBufferWriter<byte>();
        var bytes = Encoding.UTF8.GetBytes(message);
        for (int at = 0, end = 0; end < bytes.Length;)
        {
            end = Math.Min(bytes.Length, end + 5);
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, end));
            reader.Advance(at);
            var status = data.Process(ref reader, output);
            at = (int)reader.Consumed;
            if (status == DataReader.Status.Done) break;
        }
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Theory]
    [InlineData(" alice", " alice@listener.example")]
    [InlineData(" alice, bob@x.example", " alice@listener.example, bob@x.example")]
    [InlineData(" Alice <alice>", " Alice <alice@listener.example>")]
    [InlineData(" \"Doe, John\" <john>", " \"Doe, John\" <john@listener.example>")]
    [InlineData(" alice (the boss)", " alice@listener.example (the boss)")]
    [InlineData(" <>", " <>")]
    [InlineData(" undisclosed-recipients:;", " undisclosed-recipients:;")]
    [InlineData(" \"unterminated <bob>", " \"unterminated <bob>")]
    [InlineData(" ", " ")]
    public void An_address_without_a_domain_gets_the_listener_name(string value, string expected) =>
        Assert.Equal(expected, HeaderRewriter.QualifyValue(value, "listener.example"));

    [Fact]
    public void Bcc_goes_with_its_continuation_lines_and_the_body_is_kept_byte_for_byte()
    {
        string stored = Run("Subject: x\r\nbcc: a@x.example,\r\n\tb@y.example\r\nX-Next: 1\r\n\r\nBcc: body\r\n..dot\r\n.\r\n", addMissing: false);
        Assert.Equal("Subject: x\r\nX-Next: 1\r\n\r\nBcc: body\r\n.dot\r\n", stored);
    }

    [Fact]
    public void A_submission_adds_date_and_message_id_at_the_end_of_the_header_section()
    {
        string stored = Run("Subject: x\r\nTo: bob\r\n\r\nbody\r\n.\r\n", addMissing: true);
        Assert.Matches("^Subject: x\r\nTo: bob@listener.example\r\nDate: Mon, 7 Dec 2026 02:06:29 \\+0000\r\nMessage-ID: <[0-9a-f]{16}@listener.example>\r\n\r\nbody\r\n$", stored);
    }

    [Fact]
    public void Date_and_message_id_the_message_has_are_kept_and_not_added_again()
    {
        string message = "date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-Id: <a@b>\r\n\r\nbody\r\n";
        Assert.Equal(message, Run(message + ".\r\n", addMissing: true));
    }

    [Fact]
    public void A_message_of_headers_only_gets_them_at_its_end_and_one_without_headers_is_left_alone()
    {
        Assert.Matches("^Subject: x\r\nDate: [^\r]+\r\nMessage-ID: <[^>]+>\r\n$", Run("Subject: x\r\n.\r\n", addMissing: true));
        Assert.Equal("just a body\r\n", Run("just a body\r\n.\r\n", addMissing: true));
    }
}
