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

    /// <summary>The header block (at most 64 KiB), CRLF line ends.</summary>
    public static string Read(Stream message)
    {
        var buffer = new byte[Max];
        int length = 0, n;
        while (length < Max && (n = message.Read(buffer, length, Max - length)) > 0) length += n;
        string text = Bytes.GetString(buffer, 0, length).Replace("\r\n", "\n");
        int end = text.IndexOf("\n\n", StringComparison.Ordinal);
        return (end >= 0 ? text[..(end + 1)] : text).Replace("\n", "\r\n");
    }
}
