using System.Net;
using System.Text;
using Smtpd.Lookup.Dns;

namespace Smtpd.Mta.TlsPolicy.Sts;

/// <summary>
/// Fetches <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> (RFC 8461 3.3): the web
/// server's certificate verified against the system's roots for that name, no redirect
/// followed, only a 200 answer of type text/plain, at most 64 KiB, within a time limit. The
/// host is resolved by our resolver, as the MX hosts are.
/// </summary>
public sealed class StsFetcher : IStsPolicySource, IDisposable
{
    /// <summary>RFC 8461 3.3 suggests a limit of 64 KiB for a policy.</summary>
    public const int MaxPolicySize = 64 * 1024;
    static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(30);

    readonly HttpClient _http;

    public StsFetcher(IDnsResolver dns) => _http = ResolvingHttpClient.Create(dns, FetchTimeout);

    /// <summary>The policy text; throws <see cref="StsFetchException"/> saying why there is none.</summary>
    public async Task<string> FetchAsync(string domain, CancellationToken ct)
    {
        var url = new Uri($"https://mta-sts.{domain}/.well-known/mta-sts.txt");
        try
        {
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
            if (response.StatusCode != HttpStatusCode.OK) throw new StsFetchException($"{url}: HTTP {(int)response.StatusCode}");
            if (response.Content.Headers.ContentType?.MediaType is not "text/plain")
                throw new StsFetchException($"{url}: type {response.Content.Headers.ContentType?.MediaType ?? "none"}, not text/plain");
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var buffer = new byte[MaxPolicySize + 1];
            int total = 0, n;
            while (total < buffer.Length && (n = await body.ReadAsync(buffer.AsMemory(total), ct)) > 0) total += n;
            if (total > MaxPolicySize) throw new StsFetchException($"{url}: larger than {MaxPolicySize} bytes");
            return Encoding.UTF8.GetString(buffer, 0, total);
        }
        catch (Exception ex) when (ex is HttpRequestException or DnsTempFailException or IOException
            or OperationCanceledException && !ct.IsCancellationRequested)
        {
            throw new StsFetchException($"{url}: {(ex is OperationCanceledException ? "timeout" : ex.InnerException?.Message ?? ex.Message)}");
        }
    }

    public void Dispose() => _http.Dispose();
}

public sealed class StsFetchException(string message) : Exception(message);

/// <summary>Where MTA-STS policy files come from: the web (<see cref="StsFetcher"/>), or a test's fake.</summary>
public interface IStsPolicySource
{
    /// <summary>The policy text of a domain.</summary>
    /// <exception cref="StsFetchException">There is none to be had now, and why.</exception>
    Task<string> FetchAsync(string domain, CancellationToken ct);
}
