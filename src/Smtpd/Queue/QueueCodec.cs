using System.IO.Compression;
using System.Security.Cryptography;

namespace Smtpd.Queue;

/// <summary>
/// What <c>queue compress</c> and <c>queue encrypt</c> do to every message and envelope before
/// the backend stores it: gzip (so that an admin can zcat a compressed-only queue, seed 002),
/// then AES-256-GCM in authenticated chunks (the seed's AES-128-ECB is not acceptable). Files
/// written before the option was turned on are still read: gzip and our encryption are
/// recognized by their magic bytes.
/// </summary>
public sealed class QueueCodec
{
    public static readonly QueueCodec None = new(false, null);

    readonly byte[]? _key;

    public QueueCodec(bool compress, byte[]? key)
    {
        Compress = compress;
        _key = key;
    }

    public bool Compress { get; }
    public bool Encrypt => _key is not null;
    public bool IsIdentity => !Compress && !Encrypt;

    /// <summary>A stream that transforms what is written into <paramref name="file"/>; disposing it finishes the file.</summary>
    public Stream WrapWrite(Stream file)
    {
        Stream s = file;
        if (_key is not null) s = new SealedStream.Writer(s, _key, Compress);
        if (Compress) s = new GZipStream(s, CompressionLevel.Fastest, leaveOpen: false);
        return s;
    }

    /// <summary>A stream of the plaintext of <paramref name="file"/>, whatever of this codec it was written with.</summary>
    /// <exception cref="InvalidDataException">The file is not what it claims (truncated, wrong key, garbage).</exception>
    public Stream WrapRead(Stream file)
    {
        Span<byte> prefix = stackalloc byte[4];
        return WrapRead(file, prefix[..ReadPrefix(file, prefix)]);
    }

    /// <summary>As <see cref="WrapRead(Stream)"/>, for a caller that read the first bytes
    /// (<paramref name="prefix"/>, up to 4) without moving <paramref name="file"/>'s position.</summary>
    public Stream WrapRead(Stream file, ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length == 4 && SealedStream.HasMagic(prefix))
        {
            if (_key is null) throw new InvalidDataException("the file is encrypted but no queue key is configured");
            var sealedReader = new SealedStream.Reader(file, _key);
            return sealedReader.Compressed ? new CheckedGzipStream(sealedReader) : sealedReader;
        }
        if (IsGzip(prefix)) return new CheckedGzipStream(file);
        return file;
    }

    static bool IsGzip(ReadOnlySpan<byte> prefix) => prefix.Length >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b;

    public byte[] Encode(byte[] plain)
    {
        if (IsIdentity) return plain;
        using var output = new MemoryStream();
        using (var w = WrapWrite(new NonClosing(output))) w.Write(plain);
        return output.ToArray();
    }

    /// <exception cref="FormatException">Cannot be decoded (corrupt, or another key).</exception>
    public byte[] Decode(byte[] stored)
    {
        // Plain text (the default queue, and every envelope): nothing to undo, nothing to copy.
        var prefix = stored.AsSpan(0, Math.Min(4, stored.Length));
        if (!IsGzip(prefix) && !(prefix.Length == 4 && SealedStream.HasMagic(prefix))) return stored;
        try
        {
            using var r = WrapRead(new MemoryStream(stored));
            using var plain = new MemoryStream();
            r.CopyTo(plain);
            return plain.ToArray();
        }
        catch (Exception ex) when (ex is InvalidDataException or CryptographicException or EndOfStreamException)
        {
            throw new FormatException($"cannot decode: {ex.Message}", ex);
        }
    }

    /// <summary>Reads the first bytes and goes back to where it started (our files and memory streams seek).</summary>
    static int ReadPrefix(Stream s, Span<byte> into)
    {
        long start = s.CanSeek ? s.Position : -1;
        int n = 0;
        while (n < into.Length)
        {
            int r = s.Read(into[n..]);
            if (r == 0) break;
            n += r;
        }
        if (start >= 0) s.Position = start;
        else throw new InvalidOperationException("cannot peek a stream that does not seek");
        return n;
    }

    sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}
