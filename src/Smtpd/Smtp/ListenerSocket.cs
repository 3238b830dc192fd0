using System.Net;
using System.Net.Sockets;

namespace Smtpd.Smtp;

/// <summary>A listening TCP socket as smtpd's listeners have it, whoever binds it (the daemon, or its privileged helper for a reload).</summary>
public static class ListenerSocket
{
    public const int Backlog = 512;

    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public static Socket Open(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            // "::" takes IPv4 clients too, as "any" means.
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true;
            socket.Bind(endpoint);
            socket.Listen(Backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
