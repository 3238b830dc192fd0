using System.Text.Json.Serialization;

namespace Smtpd.Privsep;

/// <summary>
/// The privileged helper's answer to <c>config</c>: either every error of the configuration, each
/// as <c>file:line: message</c>, in order (unsupported statements included), or none and the files
/// it read as root, path → text, to read the same configuration again from
/// (<see cref="Config.ConfigFiles.Bundle"/>).
/// </summary>
public sealed record ConfigCheck(IReadOnlyList<string> Errors, IReadOnlyDictionary<string, string> Files)
{
    [JsonIgnore] public bool Ok => Errors.Count == 0;
}
