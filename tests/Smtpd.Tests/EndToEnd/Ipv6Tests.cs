using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.EndToEnd;

// Path: raw client over IPv6 loopback → smtpd listening on ::1 → the Received: header and the
// log show the IPv6 client; ::1 counts as "from local".
public sealed class Ipv6Tests
{
    [SkippableFact]
    public async Task Listens_and_accepts_over_ipv6_loopback()
    {
        Skip.IfNot(NetworkInterface.GetAllNetworkInterfaces().SelectMany(n => n.GetIPProperties().UnicastAddresses).Any(a => a.Address.Equals(IPAddress.IPv6Loopback)),
            "no ::1 on this machine");
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly.Replace("127.0.0.1", "::1"));
        await smtpd.StartAsync();

        using var client = new TcpClient(AddressFamily.InterNetworkV6);
        await client.ConnectAsync(IPAddress.IPv6Loopback, smtpd.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("EHLO v6.test\r\nMAIL FROM:<a@v6.test>\r\nRCPT TO:<b@remote.example>\r\nDATA\r\n"));
        var reply = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!reply.ToString().Contains("354 "))
        {
            int n = await stream.ReadAsync(buffer, timeout.Token);
            Assert.NotEqual(0, n);
            reply.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        await stream.WriteAsync(Encoding.ASCII.GetBytes("Subject: v6\r\n\r\nhello\r\n.\r\n"));
        reply.Clear();
        while (!reply.ToString().Contains("\r\n"))
        {
            int n = await stream.ReadAsync(buffer, timeout.Token);
            Assert.NotEqual(0, n);
            reply.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        Assert.StartsWith("250 2.0.0", reply.ToString());

        await smtpd.WaitForLogAsync("smtp connected address=::1", TimeSpan.FromSeconds(5));
        string msgid = reply.ToString().Split(' ')[2];
        string message = await File.ReadAllTextAsync(Path.Combine(smtpd.Spool, "queue", msgid[..2], msgid, "message"));
        // The name /etc/hosts gives ::1 (the DNS here refuses), or none: as OpenSMTPD's resolver finds it.
        string name = Smtpd.Lookup.Dns.HostsFile.Read("/etc/hosts").NameOf(System.Net.IPAddress.IPv6Loopback) ?? "<unknown>";
        Assert.StartsWith($"Received: from v6.test ({name} [IPv6:::1])", message);
    }
}
