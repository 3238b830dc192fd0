namespace Smtpd.Mta;

/// <summary>
/// Sends a stored message as DATA content: lines that start with "." get a second one, every
/// line ends in CRLF (a bare LF becomes CRLF), and "CRLF.CRLF" ends it (RFC 5321 4.5.2).
/// </summary>
public static class DotStuffing
{
    const int ChunkSize = 32 * 1024;

    public static async Task CopyAsync(Stream message, Stream output, CancellationToken ct)
    {
        byte[] input = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            var stuffer = new Stuffer();
            int n;
            while ((n = await message.ReadAsync(input, ct)) > 0)
            {
                stuffer.Add(input.AsSpan(0, n));
                if (stuffer.Pending >= ChunkSize) await output.WriteAsync(stuffer.Take(), ct);
            }
            await output.WriteAsync(stuffer.Finish(), ct);
            await output.FlushAsync(ct);
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(input); }
    }

    /// <summary>The same, blocking: for a process that submits one message and exits (sendmail),
    /// where an asynchronous read would start the thread pool and the socket engine's thread.</summary>
    public static void Copy(Stream message, Stream output)
    {
        byte[] input = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            var stuffer = new Stuffer();
            int n;
            while ((n = message.Read(input)) > 0)
            {
                stuffer.Add(input.AsSpan(0, n));
                if (stuffer.Pending >= ChunkSize) output.Write(stuffer.Take().Span);
            }
            output.Write(stuffer.Finish().Span);
            output.Flush();
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(input); }
    }

    /// <summary>The transformation, fed in pieces; what it has made is taken in chunks.</summary>
    sealed class Stuffer
    {
        readonly MemoryStream _out = new(40 * 1024);
        bool _lineStart = true, _lastWasCr;

        public long Pending => _out.Length;

        public void Add(ReadOnlySpan<byte> input)
        {
            foreach (byte b in input)
            {
                if (_lineStart && b == (byte)'.') _out.WriteByte((byte)'.');
                if (b == (byte)'\n' && !_lastWasCr) _out.WriteByte((byte)'\r');
                _out.WriteByte(b);
                _lineStart = b == (byte)'\n';
                _lastWasCr = b == (byte)'\r';
            }
        }

        /// <summary>What is pending; valid until the next call.</summary>
        public ReadOnlyMemory<byte> Take()
        {
            var pending = _out.GetBuffer().AsMemory(0, (int)_out.Length);
            _out.SetLength(0);
            return pending;
        }

        /// <summary>The last line ended, the terminating dot added, and everything still pending.</summary>
        public ReadOnlyMemory<byte> Finish()
        {
            if (!_lineStart) { if (!_lastWasCr) _out.WriteByte((byte)'\r'); _out.WriteByte((byte)'\n'); }
            _out.Write(".\r\n"u8);
            return Take();
        }
    }
}
