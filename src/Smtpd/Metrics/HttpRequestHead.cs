using System.Text;

namespace Smtpd.Metrics;

/// <summary>The request line and the one header the metrics endpoint reads (Accept).</summary>
internal sealed record HttpRequestHead(string Method, string Path, string? Accept)
{
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
        int query = path.IndexOf('?');
        if (query >= 0) path = path[..query];
        string? accept = null;
        foreach (var line in lines.AsSpan(1))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals("Accept", StringComparison.OrdinalIgnoreCase))
                accept = line[(colon + 1)..].Trim();
        }
        return new HttpRequestHead(request[0], path, accept);
    }
}
