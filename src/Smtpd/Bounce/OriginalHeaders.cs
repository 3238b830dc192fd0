using System.Text;

namespace Smtpd.Bounce;

/// <summary>
/// Reads what a report returns of the original message: the whole of it (RFC 3461 4.3: unless
/// the sender asked RET=HDRS) when it is at most <see cref="MaxWhole"/>, else its header block.
/// Read as Latin-1, so the report carries the stored bytes unchanged, 8-bit ones included.
/// </summary>
public static class OriginalHeaders
{
    const int Max = 64 * 1024;
    /// <summary>A message larger than this comes back with its header only (README: bounces).</summary>
    public const int MaxWhole = 1024 * 1024;

    static readonly Encoding Bytes = Encoding.Latin1;

    /// <summary>The original for a report: the text, and whether it is the whole message.</summary>
    public static (string Text, bool Whole) ForReport(Stream message, string? dsnRet)
    {
        if (dsnRet == "HDRS" || message.Length > MaxWhole) return (Read(message), false);
        using var reader = new StreamReader(message, Bytes);
        return (reader.ReadToEnd(), true);
    }

    /// <summary>The header block (at most 64 KiB), CRLF line ends. Read for every local delivery
    /// (loop detection), so only as far as the blank line, into a pooled buffer.</summary>
    public static string Read(Stream message)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Max);
        try
        {
            int length = 0, end = -1, n;
            while (end < 0 && length < Max && (n = message.Read(buffer, length, Max - length)) > 0)
            {
                int from = Math.Max(0, length - 2);
                length += n;
                end = HeaderEnd(buffer.AsSpan(0, length), from);
            }
            var header = buffer.AsSpan(0, end >= 0 ? end : length);
            // What we queued has CRLF line ends already (DataReader): one string, no rewriting.
            if (header.Count((byte)'\n') == header.Count("\r\n"u8)) return Bytes.GetString(header);
            return Bytes.GetString(header).Replace("\r\n", "\n").Replace("\n", "\r\n");
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>Where the header block ends (just past the line end before the blank line), searching
    /// from <paramref name="from"/>; -1 when the blank line is not in <paramref name="data"/> yet.</summary>
    static int HeaderEnd(ReadOnlySpan<byte> data, int from)
    {
        for (int i = data[from..].IndexOf((byte)'\n') is int k and >= 0 ? from + k : -1; i >= 0 && i + 1 < data.Length;)
        {
            if (data[i + 1] == '\n' || (data[i + 1] == '\r' && i + 2 < data.Length && data[i + 2] == '\n')) return i + 1;
            int next = data[(i + 1)..].IndexOf((byte)'\n');
            i = next < 0 ? -1 : i + 1 + next;
        }
        return -1;
    }
}
