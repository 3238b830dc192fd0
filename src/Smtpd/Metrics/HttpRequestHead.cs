using System.Text;

namespace Smtpd.Metrics;

/// <summary>
/// The request line and the headers the metrics and admin endpoints read: Accept for the
/// metrics format, Authorization and the admin page's CSRF header. <see cref="Query"/> is what
/// follows '?' in the target, undecoded.
/// </summary>
internal sealed record HttpRequestHead(string Method, string Path, string? Accept)
{
    public string? Query { get; init; }
    public string? Authorization { get; init; }
    /// <summary>The <c>X-Smtpd-Admin</c> header: a page of another site cannot send it without
    /// a CORS preflight, which we never grant (the admin page's CSRF guard).</summary>
    public string? AdminHeader { get; init; }
    /// <summary>The client's address (the admin page's login throttle counts failures by it).</summary>
    public System.Net.IPAddress? Client { get; init; }

    /// <summary>Reads up to the blank line ending the head; null when it is malformed, larger than
    /// <paramref name="max"/> bytes or the peer closes first.</summary>
    public static async Task<HttpRequestHead?> ReadAsync(Stream stream, int max, CancellationToken ct)
    {
        var buffer = new byte[max];
        int length = 0, end;
        while ((end = HeadEnd(buffer.AsSpan(0, length))) < 0)
        {
            if (length == max) return null;
            int n = await stream.ReadAsync(buffer.AsMemory(length), ct);
            if (n == 0) return null;
            length += n;
        }
        return Parse(Encoding.Latin1.GetString(buffer, 0, end));
    }

    static int HeadEnd(ReadOnlySpan<byte> data) => data.IndexOf("\r\n\r\n"u8);

    internal static HttpRequestHead? Parse(string head)
    {
        var lines = head.Split("\r\n");
        var request = lines[0].Split(' ');
        if (request.Length != 3 || !request[2].StartsWith("HTTP/1.", StringComparison.Ordinal)) return null;
        string path = request[1];
        string? queryText = null;
        int query = path.IndexOf('?');
        if (query >= 0)
        {
            queryText = path[(query + 1)..];
            path = path[..query];
        }
        string? accept = null, authorization = null, admin = null;
        foreach (var line in lines.AsSpan(1))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            var name = line.AsSpan(0, colon).Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Accept", StringComparison.OrdinalIgnoreCase)) accept = value;
            else if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)) authorization = value;
            else if (name.Equals("X-Smtpd-Admin", StringComparison.OrdinalIgnoreCase)) admin = value;
        }
        return new HttpRequestHead(request[0], path, accept) { Query = queryText, Authorization = authorization, AdminHeader = admin };
    }
}
