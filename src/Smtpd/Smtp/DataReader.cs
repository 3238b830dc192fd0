using System.Buffers;

namespace Smtpd.Smtp;

/// <summary>
/// Decodes the DATA phase (RFC 5321 4.5.2) incrementally: removes dot-stuffing, finds the end
/// of data, counts size and Received: hops. Only CRLF "." CRLF ends the data: a bare LF never
/// starts a line for this purpose, so <c>\n.\n</c> cannot smuggle a second message; bare LF line
/// ends are stored as CRLF so that what we relay later cannot be split downstream either.
/// </summary>
public sealed class DataReader(long maxSize, int maxLine = DataReader.DefaultMaxLine, int maxHeader = DataReader.DefaultMaxHeader)
{
    /// <summary>Real mail has long lines; keep them intact up to 64 KiB, as OpenSMTPD and Postfix do.</summary>
    public const int DefaultMaxLine = 64 * 1024;
    public const int DefaultMaxHeader = 1024 * 1024;
    /// <summary>More Received: headers than this is a mail loop (OpenSMTPD's MAX_HOPS_COUNT).</summary>
    public const int MaxHops = 100;

    static readonly byte[] Crlf = "\r\n"u8.ToArray();

    public enum Status { NeedMore, Done, LineTooLong }

    bool _lineStart = true;   // the previous line ended with CRLF (or nothing was read yet)
    bool _inHeaders = true;
    long _headerSize;

    /// <summary>Octets of the message as stored (after un-stuffing, with CRLF line ends).</summary>
    public long Size { get; private set; }
    public int Hops { get; private set; }
    public bool TooBig => Size > maxSize;
    public bool HeaderTooBig => _headerSize > maxHeader;
    public bool TooManyHops => Hops > MaxHops;
    /// <summary>The header section is edited on the way to the output (Bcc:, addresses, Date:, Message-ID:).</summary>
    public HeaderRewriter? Headers { get; init; }

    /// <summary>
    /// Consumes every complete line in <paramref name="reader"/>, appending the decoded message to
    /// <paramref name="output"/> (nothing more once the message is too big). Leaves an incomplete
    /// line unconsumed, unless it is already longer than the line limit.
    /// </summary>
    public Status Process(ref SequenceReader<byte> reader, IBufferWriter<byte> output)
    {
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
                return reader.Remaining > maxLine ? Status.LineTooLong : Status.NeedMore;
            if (line.Length > maxLine) return Status.LineTooLong;

            bool crlf = line.Length > 0 && EndsWithCr(line);
            var content = crlf ? line.Slice(0, line.Length - 1) : line;

            if (_lineStart && content.Length > 0 && content.FirstSpan[0] == (byte)'.')
            {
                if (content.Length == 1 && crlf)
                {
                    if (Headers is { InHeaders: true } h && !TooBig && !HeaderTooBig) WriteLines(h.End(), output);
                    return Status.Done;
                }
                content = content.Slice(1);
            }

            TrackHeaders(content, _lineStart);
            Size += content.Length + 2;
            if (Headers is { InHeaders: true } headers && !TooBig && !HeaderTooBig)
                WriteLines(headers.Push(content.IsSingleSegment ? content.FirstSpan : content.ToArray()), output);
            else if (!TooBig && !HeaderTooBig)
            {
                foreach (var segment in content) output.Write(segment.Span);
                output.Write(Crlf);
            }
            _lineStart = crlf;
        }
    }

    static void WriteLines(IReadOnlyList<byte[]> lines, IBufferWriter<byte> output)
    {
        foreach (var line in lines)
        {
            output.Write(line);
            output.Write(Crlf);
        }
    }

    void TrackHeaders(ReadOnlySequence<byte> content, bool atLineStart)
    {
        if (!_inHeaders) return;
        if (content.Length == 0 && atLineStart) { _inHeaders = false; return; }
        _headerSize += content.Length + 2;
        if (atLineStart && content.Length >= 9 && StartsWithReceived(content)) Hops++;
    }

    static bool StartsWithReceived(ReadOnlySequence<byte> content)
    {
        Span<byte> head = stackalloc byte[9];
        content.Slice(0, 9).CopyTo(head);
        return System.Text.Ascii.EqualsIgnoreCase(head, "Received:"u8);
    }

    static bool EndsWithCr(ReadOnlySequence<byte> line)
    {
        var last = line.Slice(line.Length - 1);
        return last.FirstSpan[0] == (byte)'\r';
    }
}
