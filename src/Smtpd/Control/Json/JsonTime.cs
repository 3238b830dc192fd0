using System.Globalization;

namespace Smtpd.Control.Json;

/// <summary>Times in the JSON forms: Unix seconds for scripts, ISO 8601 in UTC for people and browsers.</summary>
public static class JsonTime
{
    public static long Unix(DateTimeOffset t) => t.ToUnixTimeSeconds();

    public static string Iso(DateTimeOffset t) =>
        DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds()).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static long? Unix(DateTimeOffset? t) => t is { } v ? Unix(v) : null;
    public static string? Iso(DateTimeOffset? t) => t is { } v ? Iso(v) : null;
}
