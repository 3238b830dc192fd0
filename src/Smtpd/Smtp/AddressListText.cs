using System.Text;

namespace Smtpd.Smtp;

/// <summary>
/// An address-list header value (RFC 5322 3.4) cut at its top-level commas: commas inside quoted
/// strings, comments and after a backslash do not separate addresses.
/// </summary>
public static class AddressListText
{
    /// <summary>The value with each address replaced by <paramref name="map"/>'s result; separators kept.</summary>
    public static string MapAddresses(string value, Func<string, string> map)
    {
        var sb = new StringBuilder(value.Length + 16);
        int start = 0, comment = 0;
        bool escape = false, quote = false;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '(' && !escape && !quote) comment++;
            if (c == '"' && !escape && comment == 0) quote = !quote;
            if (c == ')' && !escape && !quote && comment > 0) comment--;
            bool separator = c == ',' && !escape && !quote && comment == 0;
            escape = c == '\\' && !escape && comment == 0;
            if (!separator) continue;
            sb.Append(map(value[start..i])).Append(',');
            start = i + 1;
        }
        return sb.Append(map(value[start..])).ToString();
    }
}
