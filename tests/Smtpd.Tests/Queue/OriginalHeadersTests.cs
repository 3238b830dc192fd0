using System.Text;
using Smtpd.Bounce;

namespace Smtpd.Tests.Queue;

// The header block read for loop detection (and for RET=HDRS reports): it stops at the blank
// line, whatever the read sizes of the stream and whatever the line ends.
public class OriginalHeadersTests
{
    /// <summary>The definition: the text up to the first empty line, CRLF line ends.</summary>
    static string Expected(byte[] message)
    {
        string text = Encoding.Latin1.GetString(message, 0, Math.Min(message.Length, 64 * 1024)).Replace("\r\n", "\n");
        int end = text.IndexOf("\n\n", StringComparison.Ordinal);
        return (end >= 0 ? text[..(end + 1)] : text).Replace("\n", "\r\n");
    }

    /// <summary>A stream that gives at most <paramref name="step"/> bytes per read.</summary>
    sealed class Trickle(byte[] data, int step) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, step));
    }

    [Theory]
    [InlineData("Delivered-To: a@example.org\r\nSubject: x\r\n\r\nbody\r\n\r\nmore\r\n")]
    [InlineData("Subject: bare\n\nbody\n")]
    [InlineData("Subject: mixed\r\nX: y\n\r\nbody")]
    [InlineData("Subject: no body at all\r\n")]
    [InlineData("\r\nbody only\r\n\r\n")]
    [InlineData("")]
    public void Stops_at_the_blank_line_whatever_the_read_sizes(string message)
    {
        byte[] bytes = Encoding.Latin1.GetBytes(message);
        foreach (int step in new[] { 1, 2, 3, 7, 64 * 1024 })
            Assert.Equal(Expected(bytes), OriginalHeaders.Read(new Trickle(bytes, step)));
    }

    [Fact]
    public void Random_messages_split_anywhere_read_as_the_definition_says()
    {
        var random = new Random(19);
        byte[] alphabet = "ab: \r\n\r\n\n"u8.ToArray();
        for (int round = 0; round < 2000; round++)
        {
            var bytes = new byte[random.Next(0, 200)];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = alphabet[random.Next(alphabet.Length)];
            Assert.Equal(Expected(bytes), OriginalHeaders.Read(new Trickle(bytes, random.Next(1, 20))));
        }
    }

    [Fact]
    public void A_header_block_longer_than_64_KiB_is_cut_there()
    {
        byte[] bytes = Encoding.Latin1.GetBytes("X-Long: " + new string('x', 70 * 1024) + "\r\n\r\nbody\r\n");
        Assert.Equal(Expected(bytes), OriginalHeaders.Read(new MemoryStream(bytes)));
        Assert.Equal(64 * 1024, OriginalHeaders.Read(new MemoryStream(bytes)).Length);
    }
}
