using System.Net;
using System.Net.Sockets;

namespace Smtpd.Table;

/// <summary>
/// Addresses and networks as tables write them (OpenSMTPD's text_to_netaddr and parse_sockaddr).
/// Stricter than <see cref="IPAddress.TryParse(string, out IPAddress)"/>, which reads "10" as
/// 0.0.0.10: an IPv4 address has four decimal octets. A network may abbreviate its address when
/// it gives a prefix ("10/8", "192.168/16"), as inet_net_pton allows. IPv6 may be written
/// <c>IPv6:…</c> or in brackets.
/// </summary>
public static class NetworkText
{
    /// <summary>One address, no prefix (a <c>source</c> entry, an <c>addrname</c> key).</summary>
    public static bool TryParseAddress(string text, out IPAddress address)
    {
        address = IPAddress.None;
        string s = Unbracket(text);
        if (s.Contains(':')) return TryParseV6(s, out address);
        return TryParseV4(s, requireAll: true, out address);
    }

    /// <summary>An address (a network of one) or <c>address/prefix</c> (a <c>netaddr</c> entry).</summary>
    public static bool TryParseNetwork(string text, out IPAddress network, out int prefix)
    {
        network = IPAddress.None;
        prefix = 0;
        string s = Unbracket(text);
        int slash = s.IndexOf('/');
        string addr = slash < 0 ? s : s[..slash];
        bool v6 = addr.Contains(':');
        bool parsed = v6 ? TryParseV6(addr, out network) : TryParseV4(addr, requireAll: slash < 0, out network);
        if (!parsed) return false;
        int max = v6 ? 128 : 32;
        if (slash < 0) { prefix = max; return true; }
        string bits = s[(slash + 1)..];
        return bits.Length is > 0 and <= 3 && bits.All(char.IsAsciiDigit)
            && int.TryParse(bits, out prefix) && prefix <= max;
    }

    static string Unbracket(string s)
    {
        s = s.Trim();
        if (s.StartsWith('[') && s.EndsWith(']')) s = s[1..^1];
        if (s.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase)) s = s[5..];
        return s;
    }

    static bool TryParseV4(string s, bool requireAll, out IPAddress address)
    {
        address = IPAddress.None;
        string[] octets = s.Split('.');
        if (octets.Length > 4 || requireAll && octets.Length != 4) return false;
        var bytes = new byte[4];
        for (int i = 0; i < octets.Length; i++)
        {
            string o = octets[i];
            // inet_pton refuses leading zeros ("010" could be read as octal elsewhere).
            if (o.Length is 0 or > 3 || !o.All(char.IsAsciiDigit) || o.Length > 1 && o[0] == '0') return false;
            int value = int.Parse(o);
            if (value > 255) return false;
            bytes[i] = (byte)value;
        }
        address = new IPAddress(bytes);
        return true;
    }

    static bool TryParseV6(string s, out IPAddress address) =>
        IPAddress.TryParse(s, out address!) && address.AddressFamily == AddressFamily.InterNetworkV6;
}
