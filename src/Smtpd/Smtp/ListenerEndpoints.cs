using Smtpd.Config;
using System.Net;
using System.Net.Sockets;

namespace Smtpd.Smtp;

/// <summary>Where listeners listen: the addresses of each <c>listen on</c>, and the sockets for them.</summary>
public static class ListenerEndpoints
{
    /// <summary>Every address and port the listeners name, in order.</summary>
    /// <exception cref="ConfigException">A listener's interface has no address.</exception>
    public static IEnumerable<(ListenerSetup Setup, IPEndPoint EndPoint)> Of(IEnumerable<ListenerSetup> listeners, int defaultPort)
    {
        foreach (var setup in listeners)
        {
            if (setup.Config.IsSocket) continue;
            var listener = setup.Config;
            var addresses = ListenerAddresses.Resolve(listener.Interface);
            if (addresses.Count == 0)
                throw new ConfigException([new ConfigError(listener.Location, $"listen on {listener.Interface}: no address to bind")]);
            foreach (var address in addresses) yield return (setup, new IPEndPoint(address, setup.PortOr(defaultPort)));
        }
    }

    const int SolSocket = 1, SoReuseAddr = 2;

    /// <summary>
    /// SO_REUSEADDR alone, so that a restart binds at once over connections still in TIME_WAIT.
    /// Not .NET's ReuseAddress option: on Linux it sets SO_REUSEPORT too, and a second smtpd (or
    /// anything else) could then bind the same port and take half of its connections, where
    /// OpenSMTPD fails with "address already in use".
    /// </summary>
    public static void AllowRebind(Socket socket) => socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));

    /// <summary>A listening socket on <paramref name="endpoint"/> (for <c>::</c>, IPv4 too).</summary>
    /// <exception cref="SocketException">It cannot be bound.</exception>
    public static Socket Listen(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        AllowRebind(socket);
        if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
            socket.DualMode = true;
        try
        {
            socket.Bind(endpoint);
            socket.Listen(512);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
