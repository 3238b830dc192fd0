using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Smtpd.Smtp;

/// <summary>
/// Turns what <c>listen on</c> names into addresses to bind: an address, an interface name
/// ("lo", "eth0"), a group ("localhost"/"lo0" loopback, "egress"/"any"/"all" every address)
/// or a host name.
/// </summary>
public static class ListenerAddresses
{
    public static IReadOnlyList<IPAddress> Resolve(string name)
    {
        if (IPAddress.TryParse(name.Trim('[', ']'), out var literal)) return [literal];

        switch (name.ToLowerInvariant())
        {
            case "localhost" or "lo" or "lo0":
                return Socket.OSSupportsIPv6 && HasAddress(IPAddress.IPv6Loopback)
                    ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : [IPAddress.Loopback];
            case "any" or "all" or "egress" or "*":
                return Socket.OSSupportsIPv6 ? [IPAddress.IPv6Any] : [IPAddress.Any];
        }

        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == name);
        if (nic is not null)
            return nic.GetIPProperties().UnicastAddresses.Select(u => u.Address)
                .Where(a => a.AddressFamily == AddressFamily.InterNetwork || (a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal))
                .ToList();

        try { return Dns.GetHostAddresses(name); }
        catch (SocketException) { return []; }
    }

    static bool HasAddress(IPAddress address) =>
        NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Any(u => u.Address.Equals(address));

    /// <summary>
    /// The addresses of this host's interfaces: what OpenSMTPD's <c>&lt;localhost&gt;</c> table
    /// holds and <c>from local</c> means. 127.0.0.2 is loopback but not ours unless assigned.
    /// </summary>
    public static IReadOnlySet<IPAddress> OwnAddresses()
    {
        var set = new HashSet<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            foreach (var ua in nic.GetIPProperties().UnicastAddresses)
                set.Add(ua.Address);
        return set;
    }
}
