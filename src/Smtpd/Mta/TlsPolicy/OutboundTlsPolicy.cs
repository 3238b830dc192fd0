using Smtpd.Mta.TlsPolicy.Dane;

namespace Smtpd.Mta.TlsPolicy;

/// <summary>
/// The TLS policy for mail to one destination domain, chosen before connecting: what the MTA's
/// handshake requires and what it checks, where the choice came from, and in words why.
/// </summary>
/// <param name="Detail">For the administrator: what was found (TLSA records, the MTA-STS id, the table entry).</param>
public sealed record OutboundTlsPolicy(string Domain, TlsPolicyMode Mode, TlsPolicySource Source, string Detail)
{
    /// <summary>With <see cref="TlsPolicyMode.Dane"/>: the usable TLSA records of each MX host that has a secure set, by host name.</summary>
    public IReadOnlyDictionary<string, TlsaSet> Dane { get; init; } = new Dictionary<string, TlsaSet>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// MX hosts whose secure TLSA set has no usable record (RFC 7672 2.2): no authentication
    /// there, but TLS is still required.
    /// </summary>
    public IReadOnlySet<string> EncryptOnly { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>With <see cref="TlsPolicyMode.StsEnforce"/> or <see cref="TlsPolicyMode.StsTesting"/>: the domain's MTA-STS policy (its allowed MX patterns).</summary>
    public Sts.StsPolicy? Sts { get; init; }

    /// <summary>Only MX hosts with a secure TLSA set may be used (local <c>dane-only</c>).</summary>
    public bool DaneRequired { get; init; }

    /// <summary>Set when nothing may be delivered now (the policy could not be found, or demands what is missing): a temporary failure.</summary>
    public string? Failure { get; init; }

    /// <summary>
    /// A policy the domain publishes that could not be had (an MTA-STS policy not fetched or
    /// invalid, a TLSA lookup the resolver could not answer): what TLS-RPT reports for each
    /// session made meanwhile, or for the route refused; null when discovery went well.
    /// </summary>
    public DiscoveryProblem? Discovery { get; init; }

    /// <summary>A failed policy discovery: its RFC 8460 4.3.2.1 result type and, for the report's failure-reason-code, why.</summary>
    public sealed record DiscoveryProblem(string ResultType, string Reason);

    /// <summary>The STARTTLS requirement for hosts the policy does not single out.</summary>
    public MtaTls Tls => Mode switch
    {
        TlsPolicyMode.None => MtaTls.None,
        TlsPolicyMode.Opportunistic or TlsPolicyMode.StsTesting or TlsPolicyMode.Dane => MtaTls.Opportunistic,
        _ => MtaTls.Required,
    };

    /// <summary>The certificate must chain to a trusted root and name the MX host.</summary>
    public bool VerifyCertificate => Mode is TlsPolicyMode.Verify or TlsPolicyMode.StsEnforce;

    /// <summary>The lines of <c>smtpctl show tls-policy DOMAIN</c>.</summary>
    public IReadOnlyList<string> Lines()
    {
        var lines = new List<string>
        {
            $"domain={Domain} policy={TlsPolicyModes.Name(Mode)} source=\"{TlsPolicySources.Name(Source)}\" detail=\"{Detail}\"",
        };
        foreach (var (host, set) in Dane.OrderBy(d => d.Key, StringComparer.Ordinal))
            lines.Add($"mx={host} tlsa=\"{set}\"");
        foreach (var host in EncryptOnly.Order(StringComparer.Ordinal))
            lines.Add($"mx={host} tlsa=\"no usable record: encrypt\"");
        if (Failure is { } failure) lines.Add($"failure=\"{failure}\"");
        return lines;
    }
}
