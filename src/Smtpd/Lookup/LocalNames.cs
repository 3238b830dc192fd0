using System.Net;
using System.Net.NetworkInformation;

namespace Smtpd.Lookup;

/// <summary>
/// The destinations that <c>for local</c> means: our host name(s), "localhost", and the
/// address literals of our own interfaces (<c>user@[127.0.0.1]</c>), as OpenSMTPD's localnames.
/// </summary>
public sealed class LocalNames
{
    readonly HashSet<string> _names = new(StringComparer.OrdinalIgnoreCase);

    public LocalNames(string configuredHostname)
    {
        _names.Add("localhost");
        _names.Add(configuredHostname);
        try
        {
            string host = System.Net.Dns.GetHostName();
            _names.Add(host);
            int dot = host.IndexOf('.');
            if (dot > 0) _names.Add(host[..dot]);
        }
        catch (System.Net.Sockets.SocketException) { }

        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        foreach (var ua in nic.GetIPProperties().UnicastAddresses)
        {
            var a = ua.Address;
            _names.Add(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? $"[IPv6:{a}]" : $"[{a}]");
        }
    }

    public bool Contains(string domain) => _names.Contains(domain.TrimEnd('.'));

    public IReadOnlyCollection<string> Names => _names;
}
