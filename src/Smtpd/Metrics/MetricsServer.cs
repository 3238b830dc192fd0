using System.Net;
using System.Net.Sockets;
using Prometheus;

namespace Smtpd.Metrics;

/// <summary>
/// Serves <c>GET /metrics</c> on <c>metrics listen on</c>, on the small listener of
/// <see cref="SocketHttpServer"/>: the registry in the Prometheus text format, or OpenMetrics
/// when the Accept header asks for <c>application/openmetrics-text</c>.
/// </summary>
public sealed class MetricsServer : IDisposable
{
    internal const int MaxRequest = SocketHttpServer.MaxRequest;
    internal static readonly TimeSpan RequestTimeout = SocketHttpServer.RequestTimeout;

    readonly CollectorRegistry _registry;
    readonly SocketHttpServer _http;

    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public MetricsServer(IPEndPoint at, CollectorRegistry registry, SmtpdLog log)
    {
        _registry = registry;
        _http = new SocketHttpServer("metrics", at, HandleAsync, log);
    }

    public IPEndPoint EndPoint => _http.EndPoint;

    public Task RunAsync(CancellationToken ct) => _http.RunAsync(ct);

    async Task<HttpResponse> HandleAsync(HttpRequestHead head, CancellationToken ct)
    {
        if (head.Method is not ("GET" or "HEAD")) return HttpResponse.Text("405 Method Not Allowed", "only GET\n");
        if (head.Path != "/metrics") return HttpResponse.Text("404 Not Found", "try /metrics\n");
        bool openMetrics = head.Accept?.Contains("application/openmetrics-text", StringComparison.OrdinalIgnoreCase) == true;
        using var body = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(body, openMetrics ? ExpositionFormat.OpenMetricsText : ExpositionFormat.PrometheusText, ct);
        string type = openMetrics
            ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
            : "text/plain; version=0.0.4; charset=utf-8";
        return new HttpResponse("200 OK", type, body.ToArray());
    }

    public void Dispose() => _http.Dispose();
}
