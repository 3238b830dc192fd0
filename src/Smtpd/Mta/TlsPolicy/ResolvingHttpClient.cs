using System.Net;
using System.Net.Sockets;
using Smtpd.Lookup.Dns;

namespace Smtpd.Mta.TlsPolicy;

/// <summary>
/// The web client of the outbound TLS policy (MTA-STS policies, TLS-RPT reports): host names
/// resolved by our resolver, as the MX hosts are (resolv.conf or SMTPD_RESOLVER, /etc/hosts
/// first), no proxy, no cookies, no redirect followed (RFC 8461 3.3), certificates verified
/// against the system roots by the name in the URL.
/// </summary>
public static class ResolvingHttpClient
{
    public static HttpClient Create(IDnsResolver dns, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = async (context, ct) =>
            {
                var addresses = await dns.ResolveHostAsync(context.DnsEndPoint.Host, ct);
                if (addresses.Count == 0) throw new HttpRequestException($"no address for {context.DnsEndPoint.Host}");
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(addresses[0], context.DnsEndPoint.Port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch { socket.Dispose(); throw; }
            },
        };
        return new HttpClient(handler) { Timeout = timeout };
    }
}
