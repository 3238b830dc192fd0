using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Smtpd.Tests.Mta;

/// <summary>
/// An HTTPS endpoint inside a test's network namespace that takes POSTs (TLS-RPT's https:
/// reports): it keeps each request's path, headers and body and answers 200.
/// </summary>
public sealed class HttpsSink : IAsyncDisposable
{
    public sealed record Request(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body);

    readonly TcpListener _listener;
    readonly X509Certificate2 _certificate;
    readonly CancellationTokenSource _stop = new();
    readonly Task _accepting;
    readonly List<Request> _requests = [];

    public IReadOnlyList<Request> Requests { get { lock (_requests) return [.. _requests]; } }

    HttpsSink(TcpListener listener, X509Certificate2 certificate)
    {
        _listener = listener;
        _certificate = certificate;
        _accepting = AcceptAsync();
    }

    public static async Task<HttpsSink> StartAsync(NetworkNamespace ns, IPEndPoint at, X509Certificate2 certificate)
    {
        var listener = await ns.InsideAsync(() =>
        {
            var l = new TcpListener(at);
            l.Start();
            return l;
        });
        return new HttpsSink(listener, certificate);
    }

    async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await using var ssl = new SslStream(client.GetStream());
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, timeout.Token);
            var head = new List<byte>();
            var one = new byte[1];
            while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
            {
                if (await ssl.ReadAsync(one, timeout.Token) == 0) return;
                head.Add(one[0]);
            }
            var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            var start = lines[0].Split(' ');
            var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
            var body = new byte[int.Parse(headers.GetValueOrDefault("content-length", "0"))];
            int read = 0;
            while (read < body.Length)
            {
                int n = await ssl.ReadAsync(body.AsMemory(read), timeout.Token);
                if (n == 0) break;
                read += n;
            }
            lock (_requests) _requests.Add(new Request(start[0], start[1], headers, body));
            await ssl.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _accepting; } catch (Exception) { }
        _stop.Dispose();
    }
}
