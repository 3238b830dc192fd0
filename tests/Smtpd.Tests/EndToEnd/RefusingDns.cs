using System.Net;
using System.Net.Sockets;

namespace Smtpd.Tests.EndToEnd;

/// <summary>
/// The DNS server test daemons use unless a test gives its own: it answers every query at once
/// with REFUSED, so relayed mail fails temporarily and a client's reverse name is unknown, as on a
/// machine whose local resolver refuses. A closed port would not do: our resolver (DnsClient)
/// sends from unconnected sockets, never hears the ICMP "port unreachable", and waits its full
/// timeout before each session's banner.
/// </summary>
public sealed class RefusingDns
{
    public static RefusingDns Shared { get; } = new();

    readonly UdpClient _socket = new(new IPEndPoint(IPAddress.Loopback, 0));

    /// <summary>What smtpd's SMTPD_RESOLVER should say.</summary>
    public string Resolver => _socket.Client.LocalEndPoint!.ToString()!;

    RefusingDns()
    {
        var thread = new Thread(Serve) { IsBackground = true, Name = "refusing-dns" };
        thread.Start();
    }

    void Serve()
    {
        var buffer = new byte[4096];
        while (true)
        {
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int n;
            try { n = _socket.Client.ReceiveFrom(buffer, ref from); }
            catch (SocketException) { continue; }
            if (n < 12) continue;
            // The query itself, turned into a response (QR, RA) with RCODE 5 (REFUSED), RFC 1035 4.1.1.
            buffer[2] |= 0x80;
            buffer[3] = 0x80 | 5;
            try { _socket.Client.SendTo(buffer, n, SocketFlags.None, from); }
            catch (SocketException) { }
        }
    }
}
