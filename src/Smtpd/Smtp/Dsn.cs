using Smtpd.Queue;

namespace Smtpd.Smtp;

/// <summary>The DSN parameters of RFC 3461: NOTIFY, ORCPT, and the xtext they are written in.</summary>
public static class Dsn
{
    public static bool TryParseNotify(string? value, out DsnNotify notify)
    {
        notify = DsnNotify.None;
        if (string.IsNullOrEmpty(value)) return false;
        foreach (string word in value.Split(','))
        {
            notify |= word.ToUpperInvariant() switch
            {
                "NEVER" => DsnNotify.Never,
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                _ => (DsnNotify)0xff,
            };
        }
        // NEVER stands alone (RFC 3461 4.1).
        return notify != (DsnNotify)0xff && notify <= (DsnNotify)0xff && (notify == DsnNotify.Never || !notify.HasFlag(DsnNotify.Never))
            && ((byte)notify & 0xf0) == 0;
    }

    /// <summary>RET=FULL or RET=HDRS (RFC 3461 4.3).</summary>
    public static bool IsValidRet(string? value) =>
        value is not null && (value.Equals("FULL", StringComparison.OrdinalIgnoreCase) || value.Equals("HDRS", StringComparison.OrdinalIgnoreCase));

    /// <summary>ENVID=xtext of at most 100 characters (RFC 3461 4.4).</summary>
    public static bool IsValidEnvid(string? value) => value is not null && value.Length <= 100 && IsXtext(value);

    /// <summary>ORCPT=addr-type;xtext, e.g. "rfc822;bob@example.org".</summary>
    public static bool IsValidOrcpt(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 500) return false;
        int semi = value.IndexOf(';');
        return semi > 0 && semi < value.Length - 1 && value[..semi].All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && IsXtext(value[(semi + 1)..]);
    }

    /// <summary>xtext (RFC 3461 4): printable ASCII except "+" and "=", with "+HH" for the rest.</summary>
    public static bool IsXtext(string value)
    {
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '+')
            {
                if (i + 2 >= value.Length || !char.IsAsciiHexDigitUpper(value[i + 1]) && !char.IsAsciiDigit(value[i + 1])
                    || !char.IsAsciiHexDigitUpper(value[i + 2]) && !char.IsAsciiDigit(value[i + 2])) return false;
                i += 2;
            }
            else if (c < '!' || c > '~' || c == '=') return false;
        }
        return true;
    }

    /// <summary>Decodes xtext for reports ("+2B" is "+").</summary>
    public static string DecodeXtext(string value)
    {
        var sb = new System.Text.StringBuilder(value.Length);
        for (int i = 0; i < value.Length; i++)
        {
            // A '+' without two hex digits stays as it is: ENVID and ORCPT come back from an envelope
            // file, which may hold any text, and Convert.ToByte threw on it (found by fuzzing).
            if (value[i] == '+' && i + 2 < value.Length && char.IsAsciiHexDigit(value[i + 1]) && char.IsAsciiHexDigit(value[i + 2]))
            {
                sb.Append((char)Convert.ToByte(value.Substring(i + 1, 2), 16));
                i += 2;
            }
            else sb.Append(value[i]);
        }
        return sb.ToString();
    }
}
