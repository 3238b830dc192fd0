using System.Net;

namespace Smtpd.Config;

/// <summary>
/// <c>metrics listen on ADDRESS port PORT [public]</c>: where <c>GET /metrics</c> is served,
/// without authentication. <see cref="Public"/> is the administrator's word that a non-loopback
/// address is meant.
/// </summary>
public sealed record MetricsListenerConfig(IPAddress Address, int Port, bool Public, ConfigLocation Location)
{
    public IPEndPoint EndPoint => new(Address, Port);
}
