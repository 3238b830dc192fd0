using System.Net.Security;
using System.Security.Authentication;
using Smtpd.Config;

namespace Smtpd.Smtp.Tls;

/// <summary>
/// The <c>protocols</c> and <c>ciphers</c> listener options, in libtls's syntax as OpenSMTPD
/// takes them. Only TLS 1.2 and 1.3 can be enabled: older versions are broken and OpenSSL 3
/// refuses them anyway. Cipher lists name IANA suites (TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384);
/// libtls's keywords ("secure", "default", "compat") mean the system's sane defaults.
/// </summary>
public static class TlsProtocols
{
    public const SslProtocols Default = SslProtocols.Tls12 | SslProtocols.Tls13;

    public static SslProtocols Parse(string? text, ConfigLocation at)
    {
        if (string.IsNullOrWhiteSpace(text)) return Default;
        SslProtocols result = SslProtocols.None;
        foreach (string word in text.Split([':', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            result |= word.ToLowerInvariant() switch
            {
                "tlsv1.2" => SslProtocols.Tls12,
                "tlsv1.3" => SslProtocols.Tls13,
                "secure" or "default" or "all" => Default,
                "tlsv1.0" or "tlsv1.1" or "tlsv1" or "legacy" =>
                    throw new TlsSetupException(at, $"protocols: {word} is not supported: only TLS 1.2 and 1.3 are"),
                _ => throw new TlsSetupException(at, $"protocols: unknown protocol '{word}' (tlsv1.2, tlsv1.3, secure)"),
            };
        }
        return result;
    }

    public static CipherSuitesPolicy? ParseCiphers(string? text, ConfigLocation at)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        string lower = text.Trim().ToLowerInvariant();
        if (lower is "secure" or "default" or "compat" or "all") return null;
        var suites = new List<TlsCipherSuite>();
        foreach (string name in text.Split([':', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Enum.TryParse<TlsCipherSuite>(name, ignoreCase: false, out var suite))
                throw new TlsSetupException(at, $"ciphers: unknown cipher suite '{name}' (use IANA names such as TLS_AES_256_GCM_SHA384, or \"secure\")");
            suites.Add(suite);
        }
        return new CipherSuitesPolicy(suites);
    }
}
