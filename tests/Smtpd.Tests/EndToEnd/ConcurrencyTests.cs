using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.EndToEnd;

// Path: 500 raw clients connected at once → one smtpd; every one gets its banner and an answer,
// and a transaction completes while they are all open (sessions are async, not a thread each).
public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Hundreds_of_simultaneous_sessions_are_all_served()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        const int Sessions = 500;
        var clients = new List<TcpClient>();
        try
        {
            for (int i = 0; i < Sessions; i++)
            {
                var c = new TcpClient();
                await c.ConnectAsync("127.0.0.1", smtpd.Port);
                clients.Add(c);
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var answers = await Task.WhenAll(clients.Select(async c =>
            {
                var s = c.GetStream();
                var buffer = new byte[512];
                string banner = await ReadAsync(s, buffer, timeout.Token);
                await s.WriteAsync("NOOP\r\n"u8.ToArray(), timeout.Token);
                string noop = await ReadAsync(s, buffer, timeout.Token);
                return banner.StartsWith("220 ") && noop.StartsWith("250 ");
            }));
            Assert.All(answers, Assert.True);

            await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO busy.test");
            await d.CommandAsync("MAIL FROM:<a@busy.test>");
            await d.CommandAsync("RCPT TO:<b@remote.example>");
            await d.CommandAsync("DATA");
            Assert.StartsWith("250 2.0.0", await d.CommandAsync("Subject: x\r\n\r\nx\r\n."));
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    static async Task<string> ReadAsync(NetworkStream s, byte[] buffer, CancellationToken ct)
    {
        var sb = new StringBuilder();
        while (!sb.ToString().EndsWith("\r\n"))
        {
            int n = await s.ReadAsync(buffer, ct);
            if (n == 0) break;
            sb.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        return sb.ToString();
    }
}
