using System.Buffers;
using Smtpd.Smtp;

namespace Smtpd.Tests.Smtp;

public sealed class PooledBufferWriterTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Keeps_every_byte_written_across_growth_and_starts_over_after_a_reset(bool pooled)
    {
        using var writer = new PooledBufferWriter(16, pooled);
        var expected = new List<byte>();
        for (int i = 0; i < 1000; i++)
        {
            byte[] chunk = [.. Enumerable.Range(0, i % 37 + 1).Select(n => (byte)(i + n))];
            writer.Write(chunk);
            expected.AddRange(chunk);
        }
        Assert.Equal(expected.Count, writer.WrittenCount);
        Assert.Equal(expected, writer.WrittenMemory.ToArray());

        writer.ResetWrittenCount();
        writer.Write("abc"u8);
        Assert.Equal("abc"u8.ToArray(), writer.WrittenMemory.ToArray());
    }

    [Fact]
    public void Advancing_past_what_was_given_is_refused()
    {
        using var writer = new PooledBufferWriter(8);
        int room = writer.GetSpan(8).Length;
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(room + 1));
    }
}
