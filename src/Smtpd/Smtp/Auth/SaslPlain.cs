using System.Text;

namespace Smtpd.Smtp.Auth;

/// <summary>Decoding of the SASL responses AUTH carries (RFC 4616 PLAIN, and LOGIN's two prompts).</summary>
public static class SaslPlain
{
    /// <summary>PLAIN: base64 of "authzid NUL authcid NUL password". An authzid other than the user is refused.</summary>
    public static bool TryDecode(string base64, out string user, out string password)
    {
        user = password = "";
        if (!TryBase64(base64, out string text)) return false;
        string[] parts = text.Split('\0');
        if (parts.Length != 3 || parts[1].Length == 0) return false;
        if (parts[0].Length > 0 && parts[0] != parts[1]) return false;
        (user, password) = (parts[1], parts[2]);
        return true;
    }

    public static bool TryBase64(string base64, out string text)
    {
        text = "";
        byte[] bytes = new byte[base64.Length];
        if (!Convert.TryFromBase64String(base64.Trim(), bytes, out int n)) return false;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, n); }
        catch (DecoderFallbackException) { return false; }
        return true;
    }
}
