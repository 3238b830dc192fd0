using System.Net;

namespace Smtpd.Config;

// metrics listen on ADDRESS port PORT [public]
public sealed partial class ConfigParser
{
    private void ParseMetrics(TokenCursor c, Token keyword)
    {
        if (settings.Metrics is not null)
            throw new ConfigSyntaxException(keyword.Location, "metrics listen on given twice");
        c.ExpectKeyword("listen", "metrics");
        c.ExpectKeyword("on", "metrics listen");
        string text = c.ExpectValue("metrics listen on");
        var addressAt = c.Previous.Location;
        IPAddress address = text == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(text, out var parsed) ? parsed
            : throw new ConfigSyntaxException(addressAt, $"metrics listen on: '{text}' is not an IP address");
        c.ExpectKeyword("port", $"metrics listen on {text}");
        string portText = c.ExpectValue("port");
        if (!ConfigValues.TryParsePort(portText, out int port))
            throw new ConfigSyntaxException(c.Previous.Location, $"invalid port '{portText}'");
        bool isPublic = c.TryKeyword("public");
        c.ExpectEnd("metrics listen on");
        // The endpoint has no authentication: serving it beyond this host must be asked for in words.
        if (!isPublic && !IPAddress.IsLoopback(address))
            throw new ConfigSyntaxException(addressAt,
                $"metrics listen on {text}: not a loopback address and the metrics have no authentication; add 'public' to serve them to other hosts");
        settings = settings with { Metrics = new MetricsListenerConfig(address, port, isPublic, keyword.Location) };
    }
}
