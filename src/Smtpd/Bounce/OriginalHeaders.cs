using System.Text;

namespace Smtpd.Bounce;

/// <summary>Reads the header block of a stored message, for the report (at most 64 KiB).</summary>
public static class OriginalHeaders
{
    const int Max = 64 * 1024;

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
