using System.Buffers.Binary;

namespace Smtpd.Mda;

/// <summary>
/// Framing between the Mda and a delivery process over their socket: a frame is a 4-byte
/// big-endian length and that many bytes. A job is one frame of JSON, then the message as
/// frames ending with an empty one; the answer is one frame of JSON.
/// </summary>
public static class WorkerWire
{
    public const int MaxHeader = 1024 * 1024, Chunk = 64 * 1024;

    public static async Task WriteFrameAsync(Stream s, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        byte[] length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        await s.WriteAsync(length, ct);
        if (data.Length > 0) await s.WriteAsync(data, ct);
    }

    /// <summary>The next frame; null at a clean end of stream before it.</summary>
    public static async Task<byte[]?> ReadFrameAsync(Stream s, int max, CancellationToken ct)
    {
        byte[] length = new byte[4];
        int got = await s.ReadAtLeastAsync(length, 4, throwOnEndOfStream: false, ct);
        if (got == 0) return null;
        if (got < 4) throw new EndOfStreamException("truncated frame");
        int n = BinaryPrimitives.ReadInt32BigEndian(length);
        if (n < 0 || n > max) throw new InvalidDataException($"frame of {n} bytes");
        byte[] data = new byte[n];
        await s.ReadExactlyAsync(data, ct);
        return data;
    }

    /// <summary>Sends a whole message as frames, then the empty frame that ends it.</summary>
    public static async Task WriteMessageAsync(Stream s, Stream message, CancellationToken ct)
    {
        byte[] buffer = new byte[Chunk];
        int n;
        while ((n = await message.ReadAsync(buffer, ct)) > 0)
            await WriteFrameAsync(s, buffer.AsMemory(0, n), ct);
        await WriteFrameAsync(s, ReadOnlyMemory<byte>.Empty, ct);
    }

    /// <summary>The message of a job as a forward-only stream; disposing it leaves the socket open.</summary>
    public sealed class MessageStream(Stream inner) : Stream
    {
        int _left;
        bool _ended;

        public override int Read(Span<byte> buffer)
        {
            if (_ended || buffer.Length == 0) return 0;
            if (_left == 0)
            {
                Span<byte> length = stackalloc byte[4];
                inner.ReadExactly(length);
                _left = BinaryPrimitives.ReadInt32BigEndian(length);
                if (_left < 0 || _left > Chunk) throw new InvalidDataException($"message frame of {_left} bytes");
                if (_left == 0) { _ended = true; return 0; }
            }
            int n = inner.Read(buffer[..Math.Min(buffer.Length, _left)]);
            if (n == 0) throw new EndOfStreamException("message cut short");
            _left -= n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        /// <summary>Skips what the delivery did not read, so that the next job starts at a frame.</summary>
        public void Drain()
        {
            byte[] skip = new byte[Chunk];
            while (Read(skip) > 0) { }
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
