using System.Text;

namespace Smtpd.Admin;

/// <summary>The user name and password of an HTTP Basic <c>Authorization</c> header (RFC 7617).</summary>
internal static class BasicCredentials
{
    /// <summary>Null when the header is missing, of another scheme or malformed.</summary>
    public static (string User, string Password)? Parse(string? header)
    {
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return null;
        byte[] raw;
        try { raw = Convert.FromBase64String(header[6..].Trim()); }
        catch (FormatException) { return null; }
        string text = Encoding.UTF8.GetString(raw);
        int colon = text.IndexOf(':');
        return colon <= 0 ? null : (text[..colon], text[(colon + 1)..]);
    }
}
