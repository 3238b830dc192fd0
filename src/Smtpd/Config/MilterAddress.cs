using System.Net;

namespace Smtpd.Config;

/// <summary>Where a milter listens, as Postfix's smtpd_milters spells it: <c>inet:HOST:PORT</c>,
/// <c>inet6:HOST:PORT</c> (the host may be bracketed) or <c>unix:/path</c>.</summary>
/// <param name="Host">The host name or address; null for a unix socket.</param>
/// <param name="Path">The socket path; null for inet.</param>
public sealed record MilterAddress(string? Host, int Port, string? Path)
{
    public static bool TryParse(string text, out MilterAddress address)
    {
        address = new MilterAddress(null, 0, null);
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = text[5..];
            if (path.Length == 0 || path[0] != '/') return false;
            address = new MilterAddress(null, 0, path);
            return true;
        }
        string rest = text.StartsWith("inet:", StringComparison.Ordinal) ? text[5..]
            : text.StartsWith("inet6:", StringComparison.Ordinal) ? text[6..] : "";
        int colon = rest.LastIndexOf(':');
        if (colon <= 0 || !ConfigValues.TryParsePort(rest[(colon + 1)..], out int port)) return false;
        string host = rest[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        if (host.Length == 0 || (host.Contains(':') && !IPAddress.TryParse(host, out _))) return false;
        address = new MilterAddress(host, port, null);
        return true;
    }

    public override string ToString() => Path is not null ? "unix:" + Path : Host!.Contains(':') ? $"inet6:[{Host}]:{Port}" : $"inet:{Host}:{Port}";
}
