using System.Text;

namespace Smtpd.Metrics;

/// <summary>A response of the small HTTP listener; <see cref="Headers"/> are extra lines ("Name: value").</summary>
internal sealed record HttpResponse(string Status, string ContentType, byte[] Body, IReadOnlyList<string>? Headers = null)
{
    public static HttpResponse Text(string status, string text, params string[] headers) =>
        new(status, "text/plain", Encoding.UTF8.GetBytes(text), headers);
}
