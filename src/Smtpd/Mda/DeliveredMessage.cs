using System.Text;

namespace Smtpd.Mda;

/// <summary>
/// The message as a mailbox stores it: the delivery headers OpenSMTPD adds
/// (<c>Return-Path</c>, <c>Delivered-To</c>) followed by the spooled message with LF line ends,
/// which is what maildir and mbox readers expect. The body is otherwise byte-for-byte as received.
/// </summary>
public static class DeliveredMessage
{
    static readonly byte[] FromSpace = "From "u8.ToArray();

    /// <summary>Opens the spooled message, with the daemon's own rights (the spool is not the user's to read).</summary>
    public static FileStream OpenSpooled(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, Queue.FsQueue.MessageReadBuffer, FileOptions.SequentialScan);

    public static byte[] Headers(DeliveryRequest r) =>
        Encoding.UTF8.GetBytes($"Return-Path: <{r.Sender}>\nDelivered-To: {r.Recipient}\n");

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="target"/>, turning CRLF into LF; with
    /// <paramref name="escapeFrom"/>, every line starting "From " gets a '>' (mboxo, so that no
    /// body line can be read as a message separator). Returns the bytes written.
    /// Every delivery runs this over its whole message: the buffers are pooled (a delivery
    /// process runs several at once, and 136 KB allocated per delivery was most of its garbage),
    /// and without From-escaping the copy moves runs between CRs instead of single bytes.
    /// </summary>
    public static long CopyAsLf(Stream source, Stream target, bool escapeFrom)
    {
        // 16 KiB: the pooled buffers stay small objects (64 KiB input and 128 KiB output were large
        // ones, kept by the pool for every thread that ever delivered).
        const int ChunkSize = 16 * 1024;
        byte[] input = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
        // Each input byte gives at most two output bytes ('>' before a held-back "From " line start).
        byte[] output = System.Buffers.ArrayPool<byte>.Shared.Rent(2 * ChunkSize + 16);
        try
        {
            var copier = new LfCopier(output, escapeFrom);
            long total = 0;
            int n;
            while ((n = source.Read(input, 0, ChunkSize)) > 0)
            {
                copier.Convert(input.AsSpan(0, n));
                total += copier.Drain(target);
            }
            copier.Finish();
            total += copier.Drain(target);
            return total;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(input);
            System.Buffers.ArrayPool<byte>.Shared.Return(output);
        }
    }

    /// <summary>The state of one CRLF-to-LF copy between chunks: a CR at a chunk's end, and a line start held back while it may be "From ".</summary>
    struct LfCopier
    {
        readonly byte[] output;
        readonly bool escapeFrom;
        readonly byte[] _head = new byte[5];
        int _headLength;
        bool _collecting; // at a line start, holding back bytes that may be "From "
        bool _pendingCr;
        int _length;

        public LfCopier(byte[] output, bool escapeFrom)
        {
            this.output = output;
            this.escapeFrom = escapeFrom;
            _collecting = escapeFrom;
        }

        public void Convert(ReadOnlySpan<byte> chunk)
        {
            if (_pendingCr)
            {
                _pendingCr = false;
                if (chunk[0] != (byte)'\n') Emit((byte)'\r');
            }
            if (!escapeFrom)
            {
                // Runs between CRs are copied as they are; a CR is dropped before an LF only.
                while (chunk.Length > 0)
                {
                    int cr = chunk.IndexOf((byte)'\r');
                    var run = cr < 0 ? chunk : chunk[..cr];
                    run.CopyTo(output.AsSpan(_length));
                    _length += run.Length;
                    if (cr < 0) return;
                    if (cr + 1 == chunk.Length) { _pendingCr = true; return; }
                    if (chunk[cr + 1] != (byte)'\n') output[_length++] = (byte)'\r';
                    chunk = chunk[(cr + 1)..];
                }
                return;
            }
            for (int i = 0; i < chunk.Length; i++)
            {
                byte b = chunk[i];
                if (b == (byte)'\r')
                {
                    if (i + 1 == chunk.Length) { _pendingCr = true; return; }
                    if (chunk[i + 1] != (byte)'\n') Emit(b);
                    continue;
                }
                Emit(b);
            }
        }

        /// <summary>At the end of the message: a last CR, and a line start held back, are written as they are.</summary>
        public void Finish()
        {
            if (_pendingCr) { _pendingCr = false; Emit((byte)'\r'); }
            _head.AsSpan(0, _headLength).CopyTo(output.AsSpan(_length));
            _length += _headLength;
            _headLength = 0;
        }

        public long Drain(Stream target)
        {
            int n = _length;
            target.Write(output, 0, n);
            _length = 0;
            return n;
        }

        void Emit(byte b)
        {
            if (_collecting)
            {
                _head[_headLength++] = b;
                if (b == FromSpace[_headLength - 1])
                {
                    if (_headLength < FromSpace.Length) return;
                    output[_length++] = (byte)'>';
                }
                _head.AsSpan(0, _headLength).CopyTo(output.AsSpan(_length));
                _length += _headLength;
                _headLength = 0;
                _collecting = b == (byte)'\n';
                return;
            }
            output[_length++] = b;
            if (b == (byte)'\n') _collecting = escapeFrom;
        }
    }
}
