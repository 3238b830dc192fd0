namespace Smtpd.Mta;

/// <summary>One host to try for a route, with its MX preference and port.</summary>
public sealed record NextHop(string Host, int Preference, int Port)
{
    /// <summary>Its DNSSEC-validated, usable TLSA records: the certificate must match one (DANE).</summary>
    public TlsPolicy.Dane.TlsaSet? Dane { get; init; }
    /// <summary>Its validated TLSA records are all unusable: TLS is required, not authenticated (RFC 7672 2.2).</summary>
    public bool EncryptOnly { get; init; }
}

/// <summary>Where a group of recipients can go: hosts in the order to try, or why nowhere.</summary>
public sealed record Route(IReadOnlyList<NextHop> Hosts, ClientOptions Options, Outcome? Failure = null)
{
    /// <summary>The action's relay host (<c>relay host URL</c>), or null for MX delivery: how <c>show relays</c> names it.</summary>
    public RelayHost? Via { get; init; }

    /// <summary>The destination's TLS policy for MX relaying; null for a relay host (its own TLS settings) and for a failed route.</summary>
    public TlsPolicy.OutboundTlsPolicy? TlsPolicy { get; init; }

    /// <summary>When the TLS policy refused the route: its RFC 8460 result type, for TLS-RPT.</summary>
    public string? TlsRptResult { get; init; }

    public static Route Fail(Outcome failure) => new([], null!, failure);
}
