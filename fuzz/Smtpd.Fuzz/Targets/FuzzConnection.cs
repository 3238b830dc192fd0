namespace Smtpd.Fuzz;

/// <summary>
/// A client connection held in memory: reads return the fuzz input, then end of stream; what
/// the server writes is kept for inspection. Every call completes synchronously, so a session
/// over it runs to its end without timers or sockets.
/// </summary>
public sealed class FuzzConnection(byte[] input) : Stream
{
    readonly MemoryStream _written = new();
    int _read;

    /// <summary>Everything the server sent.</summary>
    public byte[] Written => _written.ToArray();

    public override int Read(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, input.Length - _read);
        input.AsSpan(_read, n).CopyTo(buffer);
        _read += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span));
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => Task.FromResult(Read(buffer, offset, count));

    public override void Write(ReadOnlySpan<byte> buffer) => _written.Write(buffer);
    public override void Write(byte[] buffer, int offset, int count) => _written.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        _written.Write(buffer.Span);
        return ValueTask.CompletedTask;
    }
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        _written.Write(buffer, offset, count);
        return Task.CompletedTask;
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
