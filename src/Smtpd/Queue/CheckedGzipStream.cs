using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace Smtpd.Queue;

/// <summary>
/// Decompresses a queue file written by <see cref="QueueCodec"/> (one gzip member) and, when the
/// compressed data ends, checks the member's trailer (RFC 1952 §2.3.1: CRC-32 and length modulo
/// 2^32 of the uncompressed data) against what came out. GZipStream alone ends quietly when its
/// input ends early, so a file cut short (a full disk, a crash, a bad copy) would read as a
/// shorter or empty message; here it is an <see cref="InvalidDataException"/>, as a damaged
/// encrypted file is.
/// </summary>
sealed class CheckedGzipStream : ReadOnlyStream
{
    /// <summary>The smallest gzip member: a 10-byte header, an empty deflate block (2 bytes), the 8-byte trailer.</summary>
    const int SmallestMember = 20;
    const int TrailerSize = 8;

    readonly TailKeepingStream _compressed;
    readonly GZipStream _gzip;
    readonly Crc32 _crc = new();
    long _length;
    bool _checked;
    /// <summary>Set when the check failed: a caller that reads on gets the error again, never a quiet end.</summary>
    string? _damage;

    public CheckedGzipStream(Stream compressed)
    {
        _compressed = new TailKeepingStream(compressed);
        _gzip = new GZipStream(_compressed, CompressionMode.Decompress);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = _gzip.Read(buffer);
        if (n > 0) Count(buffer[..n]);
        else if (buffer.Length > 0) CheckTrailer(drained: _compressed.Drain());
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await _gzip.ReadAsync(buffer, ct);
        if (n > 0) Count(buffer.Span[..n]);
        else if (buffer.Length > 0) CheckTrailer(drained: await _compressed.DrainAsync(ct));
        return n;
    }

    void Count(ReadOnlySpan<byte> plain)
    {
        _crc.Append(plain);
        _length += plain.Length;
    }

    /// <param name="drained">Whether the compressed input was read to its end (false: too much follows the member).</param>
    void CheckTrailer(bool drained)
    {
        if (!_checked)
        {
            _checked = true;
            _damage = Damage(drained);
        }
        if (_damage is not null) throw new InvalidDataException(_damage);
    }

    string? Damage(bool drained)
    {
        // GZipStream may stop reading at the member's end or read ahead to the input's end: the
        // trailer checked is the input's last 8 bytes, so bytes after the member are damage too.
        if (!drained) return "compressed file is damaged (data after its gzip member)";
        if (_compressed.Total < SmallestMember) return "compressed file is truncated (shorter than a gzip member)";
        ReadOnlySpan<byte> trailer = _compressed.Tail;
        bool matches = BinaryPrimitives.ReadUInt32LittleEndian(trailer) == _crc.GetCurrentHashAsUInt32()
            && BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]) == (uint)_length;
        return matches ? null : "compressed file is truncated or damaged (its gzip trailer does not match the data)";
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _gzip.Dispose();
        base.Dispose(disposing);
    }


    /// <summary>Passes reads through, counting the bytes and keeping the last <see cref="TrailerSize"/> of them.</summary>
    sealed class TailKeepingStream(Stream inner) : ReadOnlyStream
    {
        /// <summary>Bounds <see cref="Drain"/>: more than this after the deflate data is not a trailer.</summary>
        const int MaxDrain = 64 * 1024;
        readonly byte[] _tail = new byte[TrailerSize];

        public long Total { get; private set; }
        public ReadOnlySpan<byte> Tail => _tail;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            Keep(buffer[..n]);
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            int n = await inner.ReadAsync(buffer, ct);
            Keep(buffer.Span[..n]);
            return n;
        }

        void Keep(ReadOnlySpan<byte> data)
        {
            Total += data.Length;
            if (data.Length >= TrailerSize) data[^TrailerSize..].CopyTo(_tail);
            else if (data.Length > 0)
            {
                _tail.AsSpan(data.Length).CopyTo(_tail);
                data.CopyTo(_tail.AsSpan(TrailerSize - data.Length));
            }
        }

        /// <summary>Reads what GZipStream left unread; false when more than <see cref="MaxDrain"/> bytes remain.</summary>
        public bool Drain()
        {
            Span<byte> scratch = stackalloc byte[4096];
            for (long left = MaxDrain; left > 0;)
            {
                int n = Read(scratch);
                if (n == 0) return true;
                left -= n;
            }
            return false;
        }

        public async ValueTask<bool> DrainAsync(CancellationToken ct)
        {
            byte[] scratch = new byte[4096];
            for (long left = MaxDrain; left > 0;)
            {
                int n = await ReadAsync(scratch, ct);
                if (n == 0) return true;
                left -= n;
            }
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }

    }
}
