namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>
/// The <c>_smtp._tls.DOMAIN</c> TXT record (RFC 8460 3): <c>v=TLSRPTv1; rua=URI[,URI]</c>,
/// the only places reports for DOMAIN may go: mailto: and https: URIs.
/// </summary>
public sealed record TlsRptRecord(IReadOnlyList<Uri> Rua)
{
    /// <summary>The record among a name's TXT records; null when none or several say <c>v=TLSRPTv1</c>, or it names no usable URI.</summary>
    public static TlsRptRecord? Find(IEnumerable<string> texts)
    {
        var candidates = texts.Where(t => t.TrimStart().StartsWith("v=TLSRPTv1", StringComparison.Ordinal)).ToList();
        if (candidates.Count != 1) return null;
        var fields = candidates[0].Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (fields[0] != "v=TLSRPTv1") return null;
        string? rua = fields.Skip(1).FirstOrDefault(f => f.StartsWith("rua=", StringComparison.Ordinal))?[4..];
        var uris = (rua ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) ? uri : null)
            .OfType<Uri>().Where(u => u.Scheme is "mailto" or "https").ToList();
        return uris.Count > 0 ? new TlsRptRecord(uris) : null;
    }
}
