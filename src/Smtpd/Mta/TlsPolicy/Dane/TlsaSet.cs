using Smtpd.Lookup.Dns;

namespace Smtpd.Mta.TlsPolicy.Dane;

/// <summary>
/// The usable TLSA records of one MX host (RFC 7672 3.1): DANE-TA(2) and DANE-EE(3), selectors
/// Cert(0) and SPKI(1), matching Full(0), SHA2-256(1) and SHA2-512(2) with data of the right
/// length. PKIX-TA(0) and PKIX-EE(1), which SMTP cannot use (3.1.3), unknown parameters and
/// malformed digests are left out.
/// </summary>
public sealed class TlsaSet
{
    public IReadOnlyList<DnsAnswer.Tlsa> Records { get; }

    /// <summary>The TLSA records that were published, usable or not.</summary>
    public int Published { get; }

    TlsaSet(IReadOnlyList<DnsAnswer.Tlsa> records, int published)
    {
        Records = records;
        Published = published;
    }

    public static TlsaSet From(IEnumerable<DnsAnswer.Tlsa> published)
    {
        var all = published.ToList();
        return new TlsaSet(all.Where(IsUsable).ToList(), all.Count);
    }

    public bool HasUsable => Records.Count > 0;

    public static bool IsUsable(DnsAnswer.Tlsa r) =>
        r.Usage is 2 or 3 && r.Selector is 0 or 1 && r.MatchingType switch
        {
            0 => r.Data.Length > 0,
            1 => r.Data.Length == 32,
            2 => r.Data.Length == 64,
            _ => false,
        };

    /// <summary>A digest of the records, so that sessions checked against other records are other sessions.</summary>
    public string Key => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
        System.Text.Encoding.ASCII.GetBytes(string.Join(";", Records.Select(Text).Order(StringComparer.Ordinal)))))[..16];

    /// <summary>"3 1 1 ab12…": usage, selector, matching type and the data's start, as zone files write them.</summary>
    public static string Text(DnsAnswer.Tlsa r)
    {
        string hex = Convert.ToHexString(r.Data).ToLowerInvariant();
        return $"{r.Usage} {r.Selector} {r.MatchingType} {(hex.Length > 16 ? hex[..16] + "…" : hex)}";
    }

    public override string ToString() => string.Join(", ", Records.Select(Text));
}
