using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Smtpd.Control.Json;

/// <summary>
/// The JSON forms of smtpctl's show verbs, generated at build time (Native AOT: no reflection).
/// Every field is always written (null when it has no value), so a reader may count on it.
/// </summary>
[JsonSerializable(typeof(QueueEntry))]
[JsonSerializable(typeof(EnvelopeDetail))]
[JsonSerializable(typeof(StatsReport))]
[JsonSerializable(typeof(RouteList))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
public partial class ControlJson : JsonSerializerContext
{
    /// <summary>
    /// Addresses keep their '+' and non-ASCII letters as they are: the output is read by scripts
    /// and served as application/json, never pasted into HTML unescaped.
    /// </summary>
    public static ControlJson Compact { get; } = new(new JsonSerializerOptions
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    });

    public static string Serialize(QueueEntry e) => JsonSerializer.Serialize(e, Compact.QueueEntry);
    public static string Serialize(EnvelopeDetail e) => JsonSerializer.Serialize(e, Compact.EnvelopeDetail);
    public static string Serialize(StatsReport s) => JsonSerializer.Serialize(s, Compact.StatsReport);
    public static string Serialize(RouteList r) => JsonSerializer.Serialize(r, Compact.RouteList);
}
