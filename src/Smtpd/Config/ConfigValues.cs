using System.Globalization;

namespace Smtpd.Config;

/// <summary>The scalar values of smtpd.conf: sizes, delays and ports.</summary>
public static class ConfigValues
{
    /// <summary>
    /// A size as OpenSMTPD reads it with scan_scaled(3): a number of bytes, optionally with a
    /// fraction and a binary suffix B, K, M, G, T (either case): "35M" is 35 × 1024 × 1024.
    /// </summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        if (text.Length == 0)
            return false;
        int shift = char.ToUpperInvariant(text[^1]) switch
        {
            'B' => 0, 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => -1,
        };
        string number = shift >= 0 ? text[..^1] : text;
        if (shift < 0)
            shift = 0;
        if (number.Length == 0 || !number.All(c => char.IsAsciiDigit(c) || c == '.'))
            return false;
        if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            return false;
        if (value > long.MaxValue >> shift)
            return false;
        bytes = (long)(value * (1L << shift));
        return true;
    }

    /// <summary>A delay as OpenSMTPD's delaytonum(): a positive integer and a unit s, m, h or d.</summary>
    public static bool TryParseDelay(string text, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
        if (text.Length < 2)
            return false;
        long unit = text[^1] switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
        if (unit == 0 || !text[..^1].All(char.IsAsciiDigit))
            return false;
        if (!long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            || count > int.MaxValue / unit)
            return false;
        delay = TimeSpan.FromSeconds(count * unit);
        return true;
    }

    /// <summary>A TCP port: a number 1..65535 or a service name (smtp, submission, smtps).</summary>
    public static bool TryParsePort(string text, out int port)
    {
        port = text switch { "smtp" => 25, "submission" => 587, "smtps" => 465, "lmtp" => 24, _ => 0 };
        if (port != 0)
            return true;
        return text.All(char.IsAsciiDigit)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port)
            && port is > 0 and <= 65535;
    }
}
