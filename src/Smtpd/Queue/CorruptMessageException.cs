namespace Smtpd.Queue;

/// <summary>
/// A stored message that cannot be read back (truncated, altered, another key). An IOException,
/// so deliveries treat it as trouble with storage; its text carries <see cref="Marker"/> so the
/// queue can move the message aside instead of retrying it until it expires.
/// </summary>
public sealed class CorruptMessageException(uint msgid, string reason, Exception? inner = null)
    : IOException($"{Marker} {QueueIds.Hex(msgid)}: {reason}", inner)
{
    public const string Marker = "corrupt queue message";
}

/// <summary>Turns decoding errors met while reading a message into <see cref="CorruptMessageException"/>.</summary>
sealed class GuardedReadStream(Stream inner, uint msgid) : Stream
{
    public override int Read(byte[] buffer, int offset, int count) => Guard(() => inner.Read(buffer, offset, count));
    public override int Read(Span<byte> buffer)
    {
        try { return inner.Read(buffer); }
        catch (Exception ex) when (ex is InvalidDataException or System.Security.Cryptography.CryptographicException) { throw new CorruptMessageException(msgid, ex.Message, ex); }
    }
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        try { return await inner.ReadAsync(buffer, ct); }
        catch (Exception ex) when (ex is InvalidDataException or System.Security.Cryptography.CryptographicException) { throw new CorruptMessageException(msgid, ex.Message, ex); }
    }
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    int Guard(Func<int> read)
    {
        try { return read(); }
        catch (Exception ex) when (ex is InvalidDataException or System.Security.Cryptography.CryptographicException) { throw new CorruptMessageException(msgid, ex.Message, ex); }
    }

    public override bool CanRead => true;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
}
