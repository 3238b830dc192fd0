using System.Globalization;

namespace Smtpd.Config;

/// <summary>Sizes (<c>35M</c>) and delays (<c>4d</c>) as smtpd.conf writes them.</summary>
public static class ConfigValues
{
    /// <summary>A byte count with an optional k/m/g suffix (powers of 1024, as scan_scaled).</summary>
    public static bool TryParseSize(string s, out long bytes)
    {
        bytes = 0;
        if (s.Length == 0) return false;
        long factor = char.ToLowerInvariant(s[^1]) switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, 'b' => 1, _ => 0 };
        string digits = factor == 0 ? s : s[..^1];
        if (factor == 0) factor = 1;
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n)) return false;
        if (n > long.MaxValue / factor) return false;
        bytes = n * factor;
        return true;
    }

    /// <summary>A delay: a number with s, m, h or d (seconds when bare).</summary>
    public static bool TryParseDelay(string s, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
        if (s.Length == 0) return false;
        long unit = char.ToLowerInvariant(s[^1]) switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
        string digits = unit == 0 ? s : s[..^1];
        if (unit == 0) unit = 1;
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n > 10L * 365 * 86400 / unit) return false;
        delay = TimeSpan.FromSeconds(n * unit);
        return true;
    }

    public static bool TryParsePort(string s, out int port)
    {
        port = s.ToLowerInvariant() switch { "smtp" => 25, "submission" => 587, "smtps" => 465, _ => 0 };
        if (port != 0) return true;
        return int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;
    }
}
