using System.Net;
using System.Net.Sockets;
using System.Text;
using Prometheus;

namespace Smtpd.Metrics;

/// <summary>
/// Serves <c>GET /metrics</c> on <c>metrics listen on</c>: one request per connection, a request
/// head of at most <see cref="MaxRequest"/> bytes read within <see cref="RequestTimeout"/>, then
/// the registry in the Prometheus text format, or OpenMetrics when the Accept header asks for
/// <c>application/openmetrics-text</c>. A small listener of our own rather than ASP.NET Core:
/// every smtpd process maps the one executable, and this needs a few hundred lines less of it.
/// The socket is bound before privileges are dropped, as the SMTP listeners are.
/// </summary>
public sealed class MetricsServer : IDisposable
{
    internal const int MaxRequest = 8192;
    internal static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    const int MaxConcurrent = 8;

    readonly CollectorRegistry _registry;
    readonly SmtpdLog _log;
    readonly Socket _socket;
    readonly SemaphoreSlim _slots = new(MaxConcurrent, MaxConcurrent);

    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public MetricsServer(IPEndPoint at, CollectorRegistry registry, SmtpdLog log)
    {
        _registry = registry;
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
            // A scraper that opens more connections than this waits its turn in the backlog.
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
                catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
                catch (Exception ex) { _log.Warn($"metrics: request failed: {ex.Message}"); }
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
        await using var stream = new NetworkStream(client, ownsSocket: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RequestTimeout);
        var head = await HttpRequestHead.ReadAsync(stream, MaxRequest, timeout.Token);
        if (head is null)
        {
            await RespondAsync(stream, "400 Bad Request", "text/plain", "bad request\n", timeout.Token);
            return;
        }
        if (head.Method is not ("GET" or "HEAD"))
        {
            await RespondAsync(stream, "405 Method Not Allowed", "text/plain", "only GET\n", timeout.Token);
            return;
        }
        if (head.Path != "/metrics")
        {
            await RespondAsync(stream, "404 Not Found", "text/plain", "try /metrics\n", timeout.Token);
            return;
        }
        bool openMetrics = head.Accept?.Contains("application/openmetrics-text", StringComparison.OrdinalIgnoreCase) == true;
        using var body = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(body, openMetrics ? ExpositionFormat.OpenMetricsText : ExpositionFormat.PrometheusText, timeout.Token);
        string type = openMetrics
            ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
            : "text/plain; version=0.0.4; charset=utf-8";
        await WriteHeadAsync(stream, "200 OK", type, body.Length, timeout.Token);
        if (head.Method == "GET") await stream.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length), timeout.Token);
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

    static async Task RespondAsync(Stream stream, string status, string type, string text, CancellationToken ct)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        await WriteHeadAsync(stream, status, type, bytes.Length, ct);
        await stream.WriteAsync(bytes, ct);
    }

    static Task WriteHeadAsync(Stream stream, string status, string type, long length, CancellationToken ct) =>
        stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status}\r\nContent-Type: {type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"), ct).AsTask();

    public void Dispose() => _socket.Dispose();
}
