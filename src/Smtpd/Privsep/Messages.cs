using System.Text.Json;
using System.Text.Json.Serialization;

namespace Smtpd.Privsep;

/// <summary>
/// What the unprivileged daemon may ask of the privileged helper (OpenSMTPD's parent): the
/// seed's "specific privileged tasks", and nothing else. One JSON object per channel message.
/// </summary>
public sealed record PrivRequest(long Id, string Op)
{
    public const string Auth = "auth", Forward = "forward", Worker = "worker", FlushOffline = "flush-offline",
        Config = "config", Bind = "bind";

    public string? User { get; init; }
    public string? Password { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public uint? ExtraGroup { get; init; }
    /// <summary>flush-offline at start: also the files a flush had claimed when the daemon died.</summary>
    public bool Recover { get; init; }
    /// <summary>bind: the address and port to listen on (IPEndPoint text).</summary>
    public string? Endpoint { get; init; }
}

/// <summary>The answer to the request with the same id. Result: ok, failed or tempfail.</summary>
public sealed record PrivReply(long Id, string Result, string? Text = null, string? Value = null)
{
    public const string Ok = "ok", Failed = "failed", TempFail = "tempfail";
}

[JsonSerializable(typeof(PrivRequest))]
[JsonSerializable(typeof(PrivReply))]
[JsonSerializable(typeof(ConfigCheck))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal partial class PrivsepJson : JsonSerializerContext
{
    public static byte[] Encode(PrivRequest r) => JsonSerializer.SerializeToUtf8Bytes(r, Default.PrivRequest);
    public static byte[] Encode(PrivReply r) => JsonSerializer.SerializeToUtf8Bytes(r, Default.PrivReply);
    public static PrivRequest? Request(byte[] data) => JsonSerializer.Deserialize(data, Default.PrivRequest);
    public static PrivReply? Reply(byte[] data) => JsonSerializer.Deserialize(data, Default.PrivReply);
    public static byte[] Encode(ConfigCheck c) => JsonSerializer.SerializeToUtf8Bytes(c, Default.ConfigCheck);
    public static ValueTask<ConfigCheck?> ConfigCheckAsync(Stream s, CancellationToken ct) => JsonSerializer.DeserializeAsync(s, Default.ConfigCheck, ct);
}
