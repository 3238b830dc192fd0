using System.Text.Json.Serialization;

namespace Smtpd.Privsep;

/// <summary>
/// The privileged helper's answer to <c>config</c>: either every error of the configuration, in
/// order (unsupported statements included; each prints as <c>file:line: message</c>, as
/// <see cref="Config.ConfigException"/> carries them), or none and the files
/// it read as root, path → text, to read the same configuration again from
/// (<see cref="Config.ConfigFiles.Bundle"/>).
/// </summary>
public sealed record ConfigCheck(IReadOnlyList<Config.ConfigError> Errors, IReadOnlyDictionary<string, string> Files)
{
    [JsonIgnore] public bool Ok => Errors.Count == 0;
}
