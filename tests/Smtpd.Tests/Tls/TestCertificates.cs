using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd.Tests.Tls;

/// <summary>Self-signed certificates for tests, written as PEM files the way admins have them.</summary>
public static class TestCertificates
{
    /// <summary>Writes <c>DIR/NAME.crt</c> and <c>DIR/NAME.key</c> for <paramref name="hostNames"/>; returns the certificate.</summary>
    public static X509Certificate2 Write(string dir, string name, params string[] hostNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostNames.FirstOrDefault() ?? name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var h in hostNames.DefaultIfEmpty("localhost")) san.AddDnsName(h);
        request.CertificateExtensions.Add(san.Build());
        var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(Path.Combine(dir, name + ".crt"), cert.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir, name + ".key"), key.ExportPkcs8PrivateKeyPem());
        return X509CertificateLoader.LoadCertificate(cert.RawData);
    }
}
