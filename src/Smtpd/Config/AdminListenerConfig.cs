using System.Net;

namespace Smtpd.Config;

/// <summary>
/// <c>admin listen on ADDRESS port PORT auth &lt;TABLE&gt;</c>: where the administrator's web page
/// and its JSON API are served. Every request must carry HTTP Basic credentials that
/// <see cref="AuthTable"/> accepts, checked as a listener's <c>auth &lt;table&gt;</c> checks them.
/// </summary>
public sealed record AdminListenerConfig(IPAddress Address, int Port, string AuthTable, ConfigLocation Location)
{
    public IPEndPoint EndPoint => new(Address, Port);
}
