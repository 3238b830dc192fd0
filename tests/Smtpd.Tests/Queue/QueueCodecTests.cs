using System.Security.Cryptography;
using System.Text;
using Smtpd.Queue;

namespace Smtpd.Tests.Queue;

public sealed class QueueCodecTests
{
    static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    static byte[] Write(QueueCodec codec, byte[] plain)
    {
        var file = new MemoryStream();
        using (var w = codec.WrapWrite(new NoDispose(file))) w.Write(plain);
        return file.ToArray();
    }

    static byte[] Read(QueueCodec codec, byte[] stored)
    {
        using var r = codec.WrapRead(new MemoryStream(stored));
        var plain = new MemoryStream();
        r.CopyTo(plain);
        return plain.ToArray();
    }

    [Theory]
    [InlineData(false, false, 0)]
    [InlineData(true, false, 10)]
    [InlineData(false, true, 1)]
    [InlineData(true, true, 64 * 1024)]
    [InlineData(false, true, 64 * 1024 * 3 + 17)]
    [InlineData(true, true, 1_000_000)]
    public void Round_trips(bool compress, bool encrypt, int size)
    {
        var codec = new QueueCodec(compress, encrypt ? Key : null);
        byte[] plain = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("Subject: MARKER line\r\n", size / 22 + 1)))[..size];
        byte[] stored = Write(codec, plain);
        Assert.Equal(plain, Read(codec, stored));
        if (encrypt && size > 0) Assert.Equal(-1, stored.AsSpan().IndexOf("MARKER"u8));
    }

    [Fact]
    public void Truncation_bit_flips_and_another_key_are_detected()
    {
        var codec = new QueueCodec(false, Key);
        byte[] stored = Write(codec, RandomNumberGenerator.GetBytes(200_000));
        Assert.ThrowsAny<InvalidDataException>(() => Read(codec, stored[..(stored.Length - 20)]));
        Assert.ThrowsAny<InvalidDataException>(() => Read(codec, stored[..(64 * 1024 + 13 + 4 + 16)])); // cut at a chunk boundary
        byte[] flipped = (byte[])stored.Clone();
        flipped[100] ^= 1;
        Assert.ThrowsAny<InvalidDataException>(() => Read(codec, flipped));
        Assert.ThrowsAny<InvalidDataException>(() => Read(new QueueCodec(false, RandomNumberGenerator.GetBytes(32)), stored));
        Assert.Throws<FormatException>(() => codec.Decode(flipped));
    }

    [Fact]
    public void Plain_files_from_before_the_option_are_still_read()
    {
        byte[] plain = Encoding.ASCII.GetBytes("version: 3\n");
        Assert.Equal(plain, new QueueCodec(true, Key).Decode(plain));
    }

    sealed class NoDispose(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] b, int o, int c) => throw new NotSupportedException();
        public override long Seek(long o, SeekOrigin s) => throw new NotSupportedException();
        public override void SetLength(long v) => throw new NotSupportedException();
        public override void Write(byte[] b, int o, int c) => inner.Write(b, o, c);
    }
}
