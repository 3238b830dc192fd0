namespace Smtpd.Mta;

/// <summary>How the MTA uses TLS with a next hop.</summary>
public enum MtaTls
{
    /// <summary>STARTTLS when offered, plain otherwise (the default for MX delivery).</summary>
    Opportunistic,
    /// <summary>STARTTLS is required: a server that does not offer it fails temporarily.</summary>
    Required,
    /// <summary>Implicit TLS (smtps).</summary>
    Smtps,
    /// <summary>Never TLS (smtp+notls).</summary>
    None,
}

/// <summary>
/// A relay URL as OpenSMTPD writes them: <c>smtp://host[:port]</c>, <c>smtp+tls://</c> or the
/// seeds' <c>tls://</c> (STARTTLS required), <c>smtps://</c> / <c>ssl://</c> (implicit TLS),
/// <c>smtp+notls://</c>, each with an optional <c>+auth</c> and a credentials label:
/// <c>smtps+auth://label@smtps.my.isp</c>.
/// </summary>
public sealed record RelayHost(string Host, int? Port, MtaTls Tls, string? AuthLabel)
{
    public int EffectivePort => Port ?? (Tls == MtaTls.Smtps ? 465 : 25);

    public static bool TryParse(string url, out RelayHost relay, out string error)
    {
        relay = null!;
        error = "";
        string scheme = "smtp", rest = url.Trim();
        int sep = rest.IndexOf("://", StringComparison.Ordinal);
        if (sep >= 0) { scheme = rest[..sep].ToLowerInvariant(); rest = rest[(sep + 3)..]; }

        bool auth = scheme.EndsWith("+auth", StringComparison.Ordinal);
        if (auth) scheme = scheme[..^5];
        MtaTls? tls = scheme switch
        {
            "smtp" => MtaTls.Opportunistic,
            "smtp+tls" or "tls" => MtaTls.Required,
            "smtps" or "ssl" => MtaTls.Smtps,
            "smtp+notls" => MtaTls.None,
            _ => null,
        };
        if (tls is null) { error = $"unknown relay protocol '{scheme}' in {url}"; return false; }

        string? label = null;
        int at = rest.LastIndexOf('@');
        if (at >= 0) { label = rest[..at]; rest = rest[(at + 1)..]; }
        if (auth && string.IsNullOrEmpty(label)) { error = $"{url}: +auth needs a label (proto+auth://label@host)"; return false; }

        int? port = null;
        string host = rest;
        if (rest.StartsWith('['))
        {
            int close = rest.IndexOf(']');
            if (close < 0) { error = $"{url}: unterminated address literal"; return false; }
            host = rest[1..close];
            rest = rest[(close + 1)..];
            if (rest.StartsWith(':')) port = ParsePort(rest[1..]);
        }
        else
        {
            int colon = rest.LastIndexOf(':');
            if (colon >= 0) { host = rest[..colon]; port = ParsePort(rest[(colon + 1)..]); }
        }
        if (host.Length == 0 || port == -1) { error = $"{url}: invalid host or port"; return false; }
        relay = new RelayHost(host, port, tls.Value, auth ? label : label);
        return true;
    }

    static int ParsePort(string s) => int.TryParse(s, out int p) && p is > 0 and < 65536 ? p : -1;

    public override string ToString() =>
        $"{(Tls switch { MtaTls.Required => "smtp+tls", MtaTls.Smtps => "smtps", MtaTls.None => "smtp+notls", _ => "smtp" })}://{Host}:{EffectivePort}";
}
