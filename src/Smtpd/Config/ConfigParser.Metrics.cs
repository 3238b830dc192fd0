using System.Net;

namespace Smtpd.Config;

// metrics listen on ADDRESS port PORT [public]
public sealed partial class ConfigParser
{
    private void ParseMetrics(TokenCursor c, Token keyword)
    {
        if (settings.Metrics is not null)
            throw new ConfigSyntaxException(keyword.Location, "metrics listen on given twice");
        var (text, address, addressAt, port) = ParseHttpListenHead(c, "metrics");
        bool isPublic = c.TryKeyword("public");
        c.ExpectEnd("metrics listen on");
        // The endpoint has no authentication: serving it beyond this host must be asked for in words.
        if (!isPublic && !IPAddress.IsLoopback(address))
            throw new ConfigSyntaxException(addressAt,
                $"metrics listen on {text}: not a loopback address and the metrics have no authentication; add 'public' to serve them to other hosts");
        settings = settings with { Metrics = new MetricsListenerConfig(address, port, isPublic, keyword.Location) };
    }

    /// <summary>
    /// <c>KEYWORD listen on ADDRESS port PORT</c>, the head of the metrics and admin lines: an IP
    /// address (or localhost) and a port, each refused at its own location.
    /// </summary>
    private static (string Text, IPAddress Address, ConfigLocation AddressAt, int Port) ParseHttpListenHead(TokenCursor c, string keyword)
    {
        c.ExpectKeyword("listen", keyword);
        c.ExpectKeyword("on", $"{keyword} listen");
        string text = c.ExpectValue($"{keyword} listen on");
        var addressAt = c.Previous.Location;
        IPAddress address = text == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(text, out var parsed) ? parsed
            : throw new ConfigSyntaxException(addressAt, $"{keyword} listen on: '{text}' is not an IP address");
        c.ExpectKeyword("port", $"{keyword} listen on {text}");
        string portText = c.ExpectValue("port");
        if (!ConfigValues.TryParsePort(portText, out int port))
            throw new ConfigSyntaxException(c.Previous.Location, $"invalid port '{portText}'");
        return (text, address, addressAt, port);
    }
}
