using System.Net.Http.Headers;
using Smtpd.Lookup.Dns;

namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>
/// Sends a report to an https: rua (RFC 8460 3): a POST of the gzip report as
/// application/tlsrpt+gzip. A POST that fails (no connection, a timeout, an answer other than
/// 2xx) is tried again after a back-off that grows fourfold, <see cref="Tries"/> tries in all,
/// so that a short outage of the web server loses no report; the caller keeps the back-off
/// well within the report period. Never throws but for cancellation: the outcome is logged.
/// </summary>
public sealed class TlsRptPoster(HttpClient http, TimeProvider time, SmtpdLog log)
{
    public const int Tries = 3;

    /// <summary>True once the endpoint took the report; false when every try failed.</summary>
    public async Task<bool> PostAsync(Uri uri, string domain, byte[] gzip, TimeSpan backoff, CancellationToken ct)
    {
        var wait = backoff;
        for (int attempt = 1; ; attempt++)
        {
            string problem;
            try
            {
                using var content = new ByteArrayContent(gzip);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/tlsrpt+gzip");
                using var response = await http.PostAsync(uri, content, ct);
                log.Info($"tls-rpt report domain={domain} to={uri} status={(int)response.StatusCode}");
                if (response.IsSuccessStatusCode) return true;
                problem = $"HTTP {(int)response.StatusCode}";
            }
            catch (Exception ex) when (ex is HttpRequestException or DnsTempFailException or IOException
                or OperationCanceledException && !ct.IsCancellationRequested)
            {
                problem = ex is OperationCanceledException ? "timeout" : ex.InnerException?.Message ?? ex.Message;
            }
            if (attempt == Tries)
            {
                log.Warn($"tls-rpt: report for {domain} to {uri} not sent after {Tries} tries: {problem}");
                return false;
            }
            log.Info($"tls-rpt report domain={domain} to={uri} failed (try {attempt} of {Tries}): {problem}; next try in {Durations.Format(wait)}");
            await Task.Delay(wait, time, ct);
            wait *= 4;
        }
    }
}
