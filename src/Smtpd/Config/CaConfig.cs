namespace Smtpd.Config;

/// <summary><c>ca NAME cert FILE</c>: a CA certificate that listeners and relay actions name.</summary>
public sealed record CaConfig(string Name, string CertificateFile, ConfigLocation Location);
