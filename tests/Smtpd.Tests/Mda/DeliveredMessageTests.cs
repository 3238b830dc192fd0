using System.Text;
using Smtpd.Mda;

namespace Smtpd.Tests.Mda;

public class DeliveredMessageTests
{
    static string Copy(string input, bool escapeFrom)
    {
        var target = new MemoryStream();
        long n = DeliveredMessage.CopyAsLf(new MemoryStream(Encoding.UTF8.GetBytes(input)), target, escapeFrom);
        Assert.Equal(target.Length, n);
        return Encoding.UTF8.GetString(target.ToArray());
    }

    [Fact]
    public void Crlf_becomes_lf_and_nothing_else_changes()
    {
        Assert.Equal("a: b\n\nbody\rwith cr\n", Copy("a: b\r\n\r\nbody\rwith cr\r\n", escapeFrom: false));
        Assert.Equal("From x\n", Copy("From x\r\n", escapeFrom: false));
    }

    [Fact]
    public void Mbox_escapes_from_at_line_start_only()
    {
        Assert.Equal("S: x\n\n>From me\nnot From here\n>From \nFro\nFromage\n", Copy("S: x\r\n\r\nFrom me\r\nnot From here\r\nFrom \r\nFro\r\nFromage\r\n", escapeFrom: true));
        Assert.Equal(">From first\n", Copy("From first\r\n", escapeFrom: true));
    }

    /// <summary>What the copy must give, written the plain way: line by line over the whole input.</summary>
    static byte[] Expected(byte[] input, bool escapeFrom)
    {
        var text = Encoding.Latin1.GetString(input).Replace("\r\n", "\n");
        if (escapeFrom)
        {
            var lines = text.Split('\n');
            for (int i = 0; i < lines.Length; i++)
                if (lines[i].StartsWith("From ", StringComparison.Ordinal)) lines[i] = ">" + lines[i];
            text = string.Join('\n', lines);
        }
        return Encoding.Latin1.GetBytes(text);
    }

    /// <summary>A source that hands out a few bytes per read, so that CRs, LFs and "From " fall across reads.</summary>
    sealed class TrickleStream(byte[] data, Random random) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, random.Next(1, 8)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Any_split_of_crs_lfs_and_from_lines_gives_the_plain_conversion(bool escapeFrom)
    {
        var random = new Random(19);
        byte[] alphabet = "\r\nFrom x>"u8.ToArray();
        for (int round = 0; round < 2000; round++)
        {
            byte[] input = new byte[random.Next(0, 200)];
            for (int i = 0; i < input.Length; i++) input[i] = alphabet[random.Next(alphabet.Length)];
            var target = new MemoryStream();
            long n = DeliveredMessage.CopyAsLf(new TrickleStream(input, random), target, escapeFrom);
            Assert.Equal(Expected(input, escapeFrom), target.ToArray());
            Assert.Equal(target.Length, n);
        }
        // And whole chunks: a message larger than the copy's 64 KiB buffer, CRLF across its edge.
        byte[] big = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 9000).Select(i => $"From line {i}\r\n")));
        var bigTarget = new MemoryStream();
        DeliveredMessage.CopyAsLf(new MemoryStream(big), bigTarget, escapeFrom);
        Assert.Equal(Expected(big, escapeFrom), bigTarget.ToArray());
    }

    [Fact]
    public void From_line_has_ctime_date_and_mailer_daemon_for_null_sender()
    {
        var when = new DateTime(2026, 11, 4, 19, 3, 6);
        Assert.Equal("From alice@example.org Wed Nov  4 19:03:06 2026\n", MboxDelivery.FromLine("alice@example.org", when));
        Assert.Equal("From MAILER-DAEMON Wed Nov  4 19:03:06 2026\n", MboxDelivery.FromLine("", when));
    }
}
