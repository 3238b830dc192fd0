using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Smtpd.Lookup.Dns;

namespace Smtpd.Mta.TlsPolicy.Dane;

/// <summary>
/// Matches a peer's certificate chain against an MX host's TLSA records (RFC 7672 3.1, RFC 6698
/// 2.1). DANE-EE(3): the leaf itself matches; its names and dates do not matter (3.1.1).
/// DANE-TA(2): a certificate the peer sent matches and the leaf chains to it, with the usual
/// dates, and names the MX host (3.1.2, 3.2.3). Returns why nothing matched, or null.
/// </summary>
public static class DaneCheck
{
    /// <param name="chain">The chain the TLS layer built; its extra store holds what the peer sent.</param>
    public static string? Problem(string hostName, X509Certificate? certificate, X509Chain? chain, TlsaSet tlsa)
    {
        if (certificate is null) return "DANE: no certificate presented";
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        foreach (var record in tlsa.Records.Where(r => r.Usage == 3))
            if (Matches(record, leaf)) return null;

        var taRecords = tlsa.Records.Where(r => r.Usage == 2).ToList();
        string? taProblem = null;
        if (taRecords.Count > 0)
        {
            var sent = Sent(chain, leaf);
            foreach (var anchor in sent.Where(c => taRecords.Any(r => Matches(r, c))))
            {
                taProblem = ChainsTo(leaf, anchor, sent, hostName);
                if (taProblem is null) return null;
            }
        }
        return taProblem ?? $"DANE: no TLSA record of {hostName} matches the certificate (published: {tlsa})";
    }

    /// <summary>Whether a TLSA record matches a certificate: the whole certificate or its public key, in full or hashed.</summary>
    public static bool Matches(DnsAnswer.Tlsa record, X509Certificate2 certificate)
    {
        byte[] selected = record.Selector == 0 ? certificate.RawData : certificate.PublicKey.ExportSubjectPublicKeyInfo();
        byte[] data = record.MatchingType switch
        {
            1 => SHA256.HashData(selected),
            2 => SHA512.HashData(selected),
            _ => selected,
        };
        return CryptographicOperations.FixedTimeEquals(data, record.Data);
    }

    /// <summary>The certificates the peer sent besides its leaf.</summary>
    static List<X509Certificate2> Sent(X509Chain? chain, X509Certificate2 leaf)
    {
        var sent = new List<X509Certificate2>();
        if (chain is null) return sent;
        foreach (var c in chain.ChainPolicy.ExtraStore) if (!c.RawData.AsSpan().SequenceEqual(leaf.RawData)) sent.Add(c);
        foreach (var e in chain.ChainElements)
            if (!e.Certificate.RawData.AsSpan().SequenceEqual(leaf.RawData) && !sent.Any(c => c.RawData.AsSpan().SequenceEqual(e.Certificate.RawData)))
                sent.Add(e.Certificate);
        return sent;
    }

    /// <summary>DANE-TA: the leaf must chain to the matched certificate as its trust anchor and be for the MX host.</summary>
    static string? ChainsTo(X509Certificate2 leaf, X509Certificate2 anchor, List<X509Certificate2> sent, string hostName)
    {
        using var custom = new X509Chain();
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(anchor);
        custom.ChainPolicy.ExtraStore.AddRange(sent.ToArray());
        // The anchor need not be self-signed (RFC 7671 5.2.2): a chain that reaches it is enough.
        bool built = custom.Build(leaf) || custom.ChainElements.Cast<X509ChainElement>().Any(e => e.Certificate.RawData.AsSpan().SequenceEqual(anchor.RawData))
            && custom.ChainStatus.All(s => s.Status is X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain or X509ChainStatusFlags.NoError);
        if (!built)
            return $"DANE: the certificate does not chain to the trust anchor of the TLSA record ({string.Join(", ", custom.ChainStatus.Select(s => s.StatusInformation.Trim()))})";
        if (!leaf.MatchesHostname(hostName))
            return $"DANE: the certificate chains to the TLSA trust anchor but is not for {hostName}";
        return null;
    }
}
