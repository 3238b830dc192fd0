using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Smtpd.Queue;

/// <summary>
/// AES-256-GCM over a stream, in chunks of 64 KiB so that a large message never has to sit in
/// memory. Layout: "SMQ\x01", a flags byte (1 = the plaintext is gzip), an 8-byte random nonce
/// prefix, then chunks of [length, big-endian, top bit set on the last][ciphertext][16-byte tag].
/// Each chunk's nonce is the prefix and the chunk number; the header and the "last" bit are
/// authenticated, so chunks cannot be reordered, dropped, or the file cut short unnoticed.
/// </summary>
public static class SealedStream
{
    const int ChunkSize = 64 * 1024;
    const int TagSize = 16;
    const uint LastChunk = 0x8000_0000;
    static readonly byte[] Magic = "SMQ\x01"u8.ToArray();
    const int HeaderSize = 4 + 1 + 8;

    public static bool HasMagic(ReadOnlySpan<byte> first4) => first4.SequenceEqual(Magic);

    static byte[] Nonce(ReadOnlySpan<byte> prefix, uint counter)
    {
        var nonce = new byte[12];
        prefix.CopyTo(nonce);
        BinaryPrimitives.WriteUInt32BigEndian(nonce.AsSpan(8), counter);
        return nonce;
    }

    static byte[] Aad(ReadOnlySpan<byte> header, bool last)
    {
        var aad = new byte[header.Length + 1];
        header.CopyTo(aad);
        aad[^1] = last ? (byte)1 : (byte)0;
        return aad;
    }

    public sealed class Writer : Stream
    {
        readonly Stream _inner;
        readonly AesGcm _aes;
        readonly byte[] _header = new byte[HeaderSize];
        readonly byte[] _buffer = new byte[ChunkSize];
        int _filled;
        uint _counter;
        bool _closed;

        public Writer(Stream inner, byte[] key, bool compressed)
        {
            _inner = inner;
            _aes = new AesGcm(key, TagSize);
            Magic.CopyTo(_header, 0);
            _header[4] = compressed ? (byte)1 : (byte)0;
            RandomNumberGenerator.Fill(_header.AsSpan(5, 8));
            _inner.Write(_header);
        }

        void Emit(bool last)
        {
            var cipher = new byte[_filled];
            var tag = new byte[TagSize];
            _aes.Encrypt(Nonce(_header.AsSpan(5, 8), _counter++), _buffer.AsSpan(0, _filled), cipher, tag, Aad(_header, last));
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)_filled | (last ? LastChunk : 0));
            _inner.Write(length);
            _inner.Write(cipher);
            _inner.Write(tag);
            _filled = 0;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> data)
        {
            while (data.Length > 0)
            {
                int n = Math.Min(data.Length, ChunkSize - _filled);
                data[..n].CopyTo(_buffer.AsSpan(_filled));
                _filled += n;
                data = data[n..];
                if (_filled == ChunkSize) Emit(last: false);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_closed)
            {
                _closed = true;
                Emit(last: true);
                _inner.Dispose();
                _aes.Dispose();
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    public sealed class Reader : ReadOnlyStream
    {
        readonly Stream _inner;
        readonly AesGcm _aes;
        readonly byte[] _header = new byte[HeaderSize];
        byte[] _plain = [];
        int _offset;
        uint _counter;
        bool _done;

        public Reader(Stream inner, byte[] key)
        {
            _inner = inner;
            _aes = new AesGcm(key, TagSize);
            _inner.ReadExactly(_header);
            if (!HasMagic(_header.AsSpan(0, 4))) throw new InvalidDataException("not an encrypted queue file");
            Compressed = (_header[4] & 1) != 0;
        }

        public bool Compressed { get; }

        bool NextChunk()
        {
            if (_done) return false;
            Span<byte> length = stackalloc byte[4];
            try { _inner.ReadExactly(length); }
            catch (EndOfStreamException) { throw new InvalidDataException("encrypted file is truncated"); }
            uint word = BinaryPrimitives.ReadUInt32BigEndian(length);
            bool last = (word & LastChunk) != 0;
            int size = (int)(word & ~LastChunk);
            if (size > ChunkSize) throw new InvalidDataException("encrypted chunk too large");
            var cipher = new byte[size];
            var tag = new byte[TagSize];
            try { _inner.ReadExactly(cipher); _inner.ReadExactly(tag); }
            catch (EndOfStreamException) { throw new InvalidDataException("encrypted file is truncated"); }
            _plain = new byte[size];
            try { _aes.Decrypt(Nonce(_header.AsSpan(5, 8), _counter++), cipher, tag, _plain, Aad(_header, last)); }
            catch (CryptographicException) { throw new InvalidDataException("cannot decrypt: wrong queue key, or the file was altered"); }
            _offset = 0;
            if (last)
            {
                _done = true;
                if (_inner.ReadByte() >= 0) throw new InvalidDataException("data after the last encrypted chunk");
            }
            return true;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> into)
        {
            while (_offset == _plain.Length)
                if (!NextChunk()) return 0;
            int n = Math.Min(into.Length, _plain.Length - _offset);
            _plain.AsSpan(_offset, n).CopyTo(into);
            _offset += n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) { _inner.Dispose(); _aes.Dispose(); }
            base.Dispose(disposing);
        }

    }
}
