namespace Smtpd.Mta.TlsPolicy.Sts;

/// <summary>
/// The <c>_mta-sts.DOMAIN</c> TXT record (RFC 8461 3.1): <c>v=STSv1; id=ID;</c> with <c>v</c>
/// first and an id of 1 to 32 letters and digits. A policy is fetched again only when the id
/// differs from the cached one's.
/// </summary>
public sealed record StsTxtRecord(string Id)
{
    /// <summary>The record among a name's TXT records; null when none or several say <c>v=STSv1</c>, or it is malformed (3.1: then there is none).</summary>
    public static StsTxtRecord? Find(IEnumerable<string> texts)
    {
        var candidates = texts.Where(t => t.TrimStart().StartsWith("v=STSv1", StringComparison.Ordinal)).ToList();
        return candidates.Count == 1 ? Parse(candidates[0]) : null;
    }

    public static StsTxtRecord? Parse(string text)
    {
        var fields = text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length == 0 || fields[0] != "v=STSv1") return null;
        foreach (string field in fields.Skip(1))
        {
            int eq = field.IndexOf('=');
            if (eq <= 0) return null;
            string value = field[(eq + 1)..];
            if (field[..eq] == "id")
                return value.Length is >= 1 and <= 32 && value.All(char.IsAsciiLetterOrDigit) ? new StsTxtRecord(value) : null;
        }
        return null;
    }
}
