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
    /// <param name="chain">The chain the TLS layer built against the system store, with the intermediates the peer sent.</param>
    public static string? Problem(string hostName, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, X509Certificate2Collection? trustedCas)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable)) return "no certificate presented";
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var problems = new List<string>();
        string? chainProblem = trustedCas is null
            ? errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors) ? Describe(leaf, chain?.ChainStatus ?? []) : null
            : ChainToCas(leaf, chain, trustedCas);
        if (chainProblem is not null) problems.Add(chainProblem);
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            problems.Add($"name mismatch: certificate is for {Names(leaf)}, not {hostName}");
        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    /// <summary>With <c>ca NAME</c>, only those roots count (OpenSMTPD does not fall back to the system store then).</summary>
    static string? ChainToCas(X509Certificate2 leaf, X509Chain? sent, X509Certificate2Collection trustedCas)
    {
        using var custom = new X509Chain();
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(trustedCas);
        if (sent is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(sent.ChainPolicy.ExtraStore);
            foreach (var element in sent.ChainElements) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        return custom.Build(leaf) ? null : Describe(leaf, custom.ChainStatus);
    }

    static string Describe(X509Certificate2 leaf, X509ChainStatus[] status)
    {
        var flags = status.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        bool selfSigned = leaf.SubjectName.RawData.AsSpan().SequenceEqual(leaf.IssuerName.RawData);
        if (flags.HasFlag(X509ChainStatusFlags.NotTimeValid)) return $"certificate expired or not yet valid (valid {leaf.NotBefore:yyyy-MM-dd} to {leaf.NotAfter:yyyy-MM-dd})";
        if (flags.HasFlag(X509ChainStatusFlags.UntrustedRoot) || flags.HasFlag(X509ChainStatusFlags.PartialChain))
            return selfSigned ? "self-signed certificate" : $"certificate issuer not trusted ({leaf.Issuer})";
        return string.Join(", ", status.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty($"chain error {flags}"));
    }

    /// <summary>The DNS names of the certificate (subjectAltName), else its common name.</summary>
    static string Names(X509Certificate2 leaf)
    {
        var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
        if (names.Count == 0) names.Add(leaf.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        return string.Join(",", names);
    }
}
