using System.Net;

namespace Smtpd.Config;

/// <summary>
/// <c>admin listen on ADDRESS port PORT auth &lt;TABLE&gt; [tls pki NAME]</c>: where the
/// administrator's web page and its JSON API are served. Every request must carry HTTP Basic
/// credentials that <see cref="AuthTable"/> accepts, checked as a listener's
/// <c>auth &lt;table&gt;</c> checks them. With <see cref="Pki"/>, HTTPS with that pki's certificate.
/// </summary>
public sealed record AdminListenerConfig(IPAddress Address, int Port, string AuthTable, string? Pki, ConfigLocation Location)
{
    public IPEndPoint EndPoint => new(Address, Port);
}
