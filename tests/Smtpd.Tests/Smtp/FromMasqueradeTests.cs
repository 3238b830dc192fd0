using System.Buffers;
using System.Text;
using Smtpd.Smtp;

namespace Smtpd.Tests.Smtp;

// senders <table> masquerade: what OpenSMTPD's header_address_rewrite_buffer makes of each From: form.
public class FromMasqueradeTests
{
    const string Sender = "alice@example.org";

    [Theory]
    [InlineData(" Someone Else <bob@example.org>", " Someone Else <alice@example.org>")]
    [InlineData(" bob@example.org", " alice@example.org")]
    [InlineData(" bob@example.org (Bob the Builder)", " alice@example.org (Bob the Builder)")]
    [InlineData(" \"Doe, John\" <john@example.net>", " \"Doe, John\" <alice@example.org>")]
    [InlineData(" a@x.example, B <b@y.example>", " alice@example.org, B <alice@example.org>")]
    [InlineData(" bob", " alice@example.org")]
    [InlineData(" undisclosed: a@x.example;", " undisclosed: a@x.example;")] // a group is left alone
    [InlineData(" \"unterminated <bob@example.org>", " \"unterminated <bob@example.org>")] // does not parse: left alone
    [InlineData(" ", " ")]
    public void Each_address_becomes_the_sender(string value, string expected) =>
        Assert.Equal(expected, FromMasquerade.RewriteValue(value, Sender));

    static string Run(string message, string? masquerade)
    {
        var data = new DataReader(1 << 20)
        {
            Headers = masquerade is null ? null : new HeaderRewriter("example.org", addMissing: false, DateTimeOffset.UnixEpoch, masquerade),
        };
        var output = new ArrayBufferWriter<byte>();
        var bytes = Encoding.UTF8.GetBytes(message);
        // Fed in small pieces, as the network gives it: a From: header is split across reads.
        for (int at = 0, end = 0; end < bytes.Length;)
        {
            end = Math.Min(bytes.Length, end + 7);
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, end));
            reader.Advance(at);
            var status = data.Process(ref reader, output);
            at = (int)reader.Consumed;
            if (status == DataReader.Status.Done) break;
        }
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Fact]
    public void A_folded_from_is_rewritten_and_everything_else_is_kept_byte_for_byte()
    {
        string headers = "Subject: From: bob@example.org\r\nFROM: Bob\r\n <bob@example.org>\r\nTo: carol@example.net\r\n";
        string body = "\r\nFrom: bob@example.org is in the body\r\n..dot\r\n";
        string stored = Run(headers + body + ".\r\n", Sender);
        Assert.Equal("Subject: From: bob@example.org\r\nFROM: Bob\r\n <alice@example.org>\r\nTo: carol@example.net\r\n"
            + "\r\nFrom: bob@example.org is in the body\r\n.dot\r\n", stored);
        Assert.Equal(headers + "\r\nFrom: bob@example.org is in the body\r\n.dot\r\n", Run(headers + body + ".\r\n", null));
    }

    [Fact]
    public void A_message_ending_in_its_from_header_keeps_it()
    {
        Assert.Equal("Subject: x\r\nFrom: <alice@example.org>\r\n", Run("Subject: x\r\nFrom: <bob@example.org>\r\n.\r\n", Sender));
    }

    [Fact]
    public void A_from_header_longer_than_the_limit_passes_unchanged()
    {
        string fold = string.Concat(Enumerable.Repeat("\r\n <bob@example.org>,", FromMasquerade.MaxHeld / 20 + 10));
        string message = "From: x@y.example," + fold + "\r\n z@y.example\r\n\r\nbody\r\n.\r\n";
        Assert.Equal(message[..^3], Run(message, Sender));
    }
}
