using Smtpd.Config;

namespace Smtpd.Smtp.Tls;

/// <summary>A certificate, key or TLS option that cannot be used: reported as file:line and refused at start.</summary>
public sealed class TlsSetupException(ConfigLocation location, string message) : Exception(message)
{
    public ConfigLocation Location { get; } = location;
    public override string ToString() => $"{Location}: {Message}";
}
