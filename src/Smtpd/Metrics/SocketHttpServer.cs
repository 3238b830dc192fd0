using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Metrics;

/// <summary>
/// The small HTTP/1.1 listener the metrics endpoint and the admin page share: one request per
/// connection (no request bodies), a head of at most <see cref="MaxRequest"/> bytes read within
/// <see cref="RequestTimeout"/>, at most <see cref="MaxConcurrent"/> requests served at once.
/// A listener of our own rather than ASP.NET Core: every smtpd process maps the one executable,
/// and this needs a few hundred lines less of it. The socket is bound in the constructor, before
/// privileges are dropped, as the SMTP listeners are.
/// </summary>
internal sealed class SocketHttpServer : IDisposable
{
    internal const int MaxRequest = 8192;
    internal static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    const int MaxConcurrent = 8;

    readonly string _name;
    readonly Func<HttpRequestHead, CancellationToken, Task<HttpResponse>> _handle;
    readonly SmtpdLog _log;
    readonly Socket _socket;
    readonly SemaphoreSlim _slots = new(MaxConcurrent, MaxConcurrent);

    /// <summary>HTTPS: the handshake's options (the admin page's <c>tls pki NAME</c>); null: plain HTTP.</summary>
    public SslServerAuthenticationOptions? Tls { get; init; }

    /// <param name="name">What the log calls it ("metrics", "admin").</param>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public SocketHttpServer(string name, IPEndPoint at, Func<HttpRequestHead, CancellationToken, Task<HttpResponse>> handle, SmtpdLog log)
    {
        _name = name;
        _handle = handle;
        _log = log;
        _socket = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Smtp.ListenerEndpoints.AllowRebind(_socket);
            _socket.Bind(at);
            _socket.Listen(16);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public async Task RunAsync(CancellationToken ct)
    {
        using var stopping = ct.Register(() => _socket.Dispose());
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try { client = await _socket.AcceptAsync(ct); }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            // A client that opens more connections than this waits its turn in the backlog.
            try { await _slots.WaitAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException)
            {
                client.Dispose();
                return;
            }
            _ = Task.Run(async () =>
            {
                try
                {
                    await ServeAsync(client, ct);
                    await LingerAsync(client, ct);
                }
                catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException
                or System.Security.Authentication.AuthenticationException) { }
                catch (Exception ex) { _log.Warn($"{_name}: request failed: {ex.Message}"); }
                finally
                {
                    client.Dispose();
                    _slots.Release();
                }
            }, CancellationToken.None);
        }
    }

    async Task ServeAsync(Socket client, CancellationToken ct)
    {
        await using var network = new NetworkStream(client, ownsSocket: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RequestTimeout);
        await using var stream = Tls is null ? (Stream)network : new SslStream(network, leaveInnerStreamOpen: true);
        if (stream is SslStream ssl) await ssl.AuthenticateAsServerAsync(Tls!, timeout.Token);
        var head = await HttpRequestHead.ReadAsync(stream, MaxRequest, timeout.Token);
        if (head is not null && client.RemoteEndPoint is System.Net.IPEndPoint remote) head = head with { Client = remote.Address };
        var response = head is null ? HttpResponse.Text("400 Bad Request", "bad request\n") : await _handle(head, timeout.Token);
        var lines = new StringBuilder($"HTTP/1.1 {response.Status}\r\nContent-Type: {response.ContentType}\r\nContent-Length: {response.Body.Length}\r\n");
        foreach (string header in response.Headers ?? []) lines.Append(header).Append("\r\n");
        lines.Append("Connection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(lines.ToString()), timeout.Token);
        if (head?.Method != "HEAD") await stream.WriteAsync(response.Body, timeout.Token);
        if (stream is SslStream tls) await tls.ShutdownAsync();
    }

    /// <summary>
    /// Closing with unread input makes the kernel send a reset, which can destroy the response
    /// before the client reads it (a refused oversized request): say we are done, then read
    /// and drop what is left, bounded in bytes and time.
    /// </summary>
    static async Task LingerAsync(Socket client, CancellationToken ct)
    {
        client.Shutdown(SocketShutdown.Send);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        var buffer = new byte[4096];
        for (int total = 0, n; total < 64 * 1024; total += n)
            if ((n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) == 0) return;
    }

    public void Dispose() => _socket.Dispose();
}
