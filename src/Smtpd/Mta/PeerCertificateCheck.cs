using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd.Mta;

/// <summary>
/// Checks a next hop's certificate as OpenSMTPD's mta does: the chain must end at a trusted
/// root (the action's <c>ca</c> when it names one, else the system store) and the certificate
/// must be for the host name we connected to (the relay URL's host or the MX name). Returns
/// why it fails in words an administrator can act on, or null when it passes.
/// </summary>
public static class PeerCertificateCheck
{
    public static string? Problem(string hostName, X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection? trustedCas)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable)) return "no certificate presented";
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var problems = new List<string>();
        if (ChainProblem(leaf, trustedCas) is { } chain) problems.Add(chain);
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            problems.Add($"name mismatch: certificate is for {Names(leaf)}, not {hostName}");
        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    static string? ChainProblem(X509Certificate2 leaf, X509Certificate2Collection? trustedCas)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (trustedCas is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trustedCas);
        }
        if (chain.Build(leaf)) return null;
        var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        bool selfSigned = leaf.SubjectName.RawData.AsSpan().SequenceEqual(leaf.IssuerName.RawData);
        if (flags.HasFlag(X509ChainStatusFlags.NotTimeValid)) return $"certificate expired or not yet valid (valid {leaf.NotBefore:yyyy-MM-dd} to {leaf.NotAfter:yyyy-MM-dd})";
        if (flags.HasFlag(X509ChainStatusFlags.UntrustedRoot) || flags.HasFlag(X509ChainStatusFlags.PartialChain))
            return selfSigned ? "self-signed certificate" : $"certificate issuer not trusted ({leaf.Issuer})";
        return string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty(flags.ToString()));
    }

    /// <summary>The DNS names of the certificate (subjectAltName), else its common name.</summary>
    static string Names(X509Certificate2 leaf)
    {
        var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
        if (names.Count == 0) names.Add(leaf.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        return string.Join(",", names);
    }
}
