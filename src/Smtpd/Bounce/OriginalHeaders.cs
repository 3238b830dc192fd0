using System.Text;

namespace Smtpd.Bounce;

/// <summary>Reads the header block of a stored message, for the report (at most 64 KiB).</summary>
public static class OriginalHeaders
{
    const int Max = 64 * 1024;
    /// <summary>RET=FULL returns messages up to this size whole; larger ones only their header.</summary>
    const int MaxFull = 10 * 1024 * 1024;

    /// <summary>The whole message (RET=FULL) when not too large, else its header.</summary>
    public static string ReadFull(Stream message)
    {
        if (message.Length > MaxFull) return Read(message);
        using var reader = new StreamReader(message, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public static string Read(Stream message)
    {
        var buffer = new byte[Max];
        int length = 0, n;
        while (length < Max && (n = message.Read(buffer, length, Max - length)) > 0) length += n;
        string text = Encoding.UTF8.GetString(buffer, 0, length).Replace("\r\n", "\n");
        int end = text.IndexOf("\n\n", StringComparison.Ordinal);
        return (end >= 0 ? text[..(end + 1)] : text).Replace("\n", "\r\n");
    }
}
