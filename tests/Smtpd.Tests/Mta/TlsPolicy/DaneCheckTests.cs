using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Smtpd.Lookup.Dns;
using Smtpd.Mta.TlsPolicy.Dane;

namespace Smtpd.Tests.Mta.TlsPolicy;

// Matching a peer's certificate against TLSA records (RFC 7672 3.1, RFC 6698 2.1): which records
// are usable, DANE-EE by key or whole certificate in full or hashed, DANE-TA through the chain
// the peer sent, and what a mismatch says.
public sealed class DaneCheckTests : IDisposable
{
    readonly X509Certificate2 _ca, _leaf, _stranger;

    public DaneCheckTests()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Test DANE CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        _ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        _leaf = Leaf("mx.example.net", _ca, caKey);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _stranger = new CertificateRequest("CN=mx.example.net", otherKey, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
    }

    static X509Certificate2 Leaf(string name, X509Certificate2 ca, ECDsa caKey)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        return request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _leaf.Dispose();
        _stranger.Dispose();
    }

    static DnsAnswer.Tlsa Record(byte usage, byte selector, byte matching, X509Certificate2 cert)
    {
        byte[] data = selector == 0 ? cert.RawData : cert.PublicKey.ExportSubjectPublicKeyInfo();
        data = matching switch { 1 => SHA256.HashData(data), 2 => SHA512.HashData(data), _ => data };
        return new DnsAnswer.Tlsa("_25._tcp.mx.example.net", usage, selector, matching, data);
    }

    /// <summary>The chain as the TLS layer hands it: what the peer sent besides its leaf, in the extra store.</summary>
    X509Chain SentChain(params X509Certificate2[] sent)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.ExtraStore.AddRange(sent);
        return chain;
    }

    [Theory]
    [InlineData(1, 1)] // SPKI, SHA-256: the usual "3 1 1"
    [InlineData(1, 2)]
    [InlineData(1, 0)]
    [InlineData(0, 1)] // the whole certificate
    [InlineData(0, 0)]
    public void Dane_ee_matches_the_leaf_by_key_or_certificate(byte selector, byte matching)
    {
        var set = TlsaSet.From([Record(3, selector, matching, _leaf)]);
        Assert.Null(DaneCheck.Problem("mx.example.net", _leaf, SentChain(), set));
        // DANE-EE ignores names (RFC 7672 3.1.1): the same key under another name still matches.
        Assert.Null(DaneCheck.Problem("other.example.net", _leaf, SentChain(), set));
        Assert.StartsWith("DANE: no TLSA record of mx.example.net matches", DaneCheck.Problem("mx.example.net", _stranger, SentChain(), set));
    }

    [Fact]
    public void Dane_ta_needs_the_anchor_in_the_chain_sent_and_the_mx_name()
    {
        var set = TlsaSet.From([Record(2, 0, 1, _ca)]);
        Assert.Null(DaneCheck.Problem("mx.example.net", _leaf, SentChain(_ca), set));
        // Not sent: nothing to match the record against.
        Assert.NotNull(DaneCheck.Problem("mx.example.net", _leaf, SentChain(), set));
        // Sent, but the certificate is for another host (RFC 7672 3.2.3).
        Assert.Contains("is not for other.example.net", DaneCheck.Problem("other.example.net", _leaf, SentChain(_ca), set));
        // A leaf the anchor did not sign.
        Assert.NotNull(DaneCheck.Problem("mx.example.net", _stranger, SentChain(_ca), set));
    }

    [Fact]
    public void Pkix_usages_unknown_parameters_and_bad_digest_lengths_are_unusable()
    {
        var set = TlsaSet.From([
            Record(0, 0, 1, _ca), Record(1, 1, 1, _leaf), // PKIX-TA, PKIX-EE: not for SMTP (RFC 7672 3.1.3)
            new DnsAnswer.Tlsa("_25._tcp.mx", 3, 1, 1, new byte[31]), // SHA-256 is 32 bytes
            new DnsAnswer.Tlsa("_25._tcp.mx", 3, 2, 1, new byte[32]), // no selector 2
            new DnsAnswer.Tlsa("_25._tcp.mx", 3, 1, 3, new byte[32]), // no matching type 3
        ]);
        Assert.Equal(5, set.Published);
        Assert.False(set.HasUsable);
        Assert.True(TlsaSet.From([Record(3, 1, 1, _leaf), Record(1, 1, 1, _leaf)]).HasUsable);
    }
}
