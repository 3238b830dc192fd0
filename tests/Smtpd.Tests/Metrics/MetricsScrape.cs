using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Metrics;

/// <summary>A scraper as Prometheus is one: GET /metrics over HTTP/1.1, and the samples of the text read back.</summary>
internal static class MetricsScrape
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>The raw response (head and body) to a request written as given.</summary>
    public static async Task<string> RawAsync(int port, string request)
    {
        using var client = new TcpClient();
        using var cts = new CancellationTokenSource(Timeout);
        await client.ConnectAsync("127.0.0.1", port, cts.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token);
        using var response = new MemoryStream();
        await stream.CopyToAsync(response, cts.Token);
        return Encoding.UTF8.GetString(response.ToArray());
    }

    /// <summary>GET /metrics: the status line, the Content-Type and the body.</summary>
    public static async Task<(string Status, string ContentType, string Body)> GetAsync(int port, string? accept = null, string path = "/metrics")
    {
        string raw = await RawAsync(port, $"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{(accept is null ? "" : $"Accept: {accept}\r\n")}\r\n");
        int end = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, raw);
        var head = raw[..end].Split("\r\n");
        string type = head.FirstOrDefault(h => h.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase))?["Content-Type:".Length..].Trim() ?? "";
        return (head[0], type, raw[(end + 4)..]);
    }

    /// <summary>Every sample: "name{labels}" (labels as written) to its value.</summary>
    public static Dictionary<string, double> Samples(string body)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in body.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            int space = line.LastIndexOf(' ');
            samples[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }
        return samples;
    }

    public static double Value(this Dictionary<string, double> samples, string key) =>
        samples.TryGetValue(key, out var v) ? v : throw new Xunit.Sdk.XunitException($"no sample {key}; have:\n{string.Join("\n", samples.Keys.Where(k => k.StartsWith("smtpd_", StringComparison.Ordinal)))}");
}
