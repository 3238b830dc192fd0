namespace Smtpd.Mta.TlsPolicy;

/// <summary>The TLS a delivery to a destination domain must use, once chosen (RFC 7672, RFC 8461, the local table).</summary>
public enum TlsPolicyMode
{
    /// <summary>STARTTLS when offered, the certificate checked and logged but not required; plain text otherwise.</summary>
    Opportunistic,
    /// <summary>Plain text, STARTTLS never tried (local choice <c>none</c>).</summary>
    None,
    /// <summary>TLS required, any certificate.</summary>
    Encrypt,
    /// <summary>TLS required, the certificate verified (trusted chain, MX host name).</summary>
    Verify,
    /// <summary>TLS required, the certificate matched against the MX host's DNSSEC-validated TLSA records.</summary>
    Dane,
    /// <summary>An MTA-STS policy in <c>testing</c> mode: delivered as opportunistic, failures only reported.</summary>
    StsTesting,
    /// <summary>An MTA-STS policy in <c>enforce</c> mode: MX names from the policy, TLS verified.</summary>
    StsEnforce,
}

public static class TlsPolicyModes
{
    /// <summary>The name <c>smtpctl show tls-policy</c> prints.</summary>
    public static string Name(TlsPolicyMode mode) => mode switch
    {
        TlsPolicyMode.StsTesting => "sts-testing",
        TlsPolicyMode.StsEnforce => "sts-enforce",
        _ => mode.ToString().ToLowerInvariant(),
    };
}
