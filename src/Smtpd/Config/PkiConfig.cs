namespace Smtpd.Config;

/// <summary><c>pki NAME cert FILE</c>, <c>pki NAME key FILE</c>, <c>pki NAME dhe P</c>: a key pair that
/// listeners and relay actions name. The files are not read by the parser.</summary>
public sealed record PkiConfig(string Name, string? CertificateFile, string? KeyFile, string? Dhe, ConfigLocation Location);
