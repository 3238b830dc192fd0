namespace Smtpd.Mta.TlsPolicy;

/// <summary>Where a destination's TLS policy came from, as <c>smtpctl show tls-policy</c> says it.</summary>
public enum TlsPolicySource
{
    /// <summary>Found in the DNS now (TLSA records, the <c>_mta-sts</c> TXT record and its policy file), or nothing found there.</summary>
    Dns,
    /// <summary>An MTA-STS policy kept in the spool from an earlier fetch.</summary>
    Cache,
    /// <summary>The administrator's <c>tls-policy &lt;table&gt;</c>.</summary>
    LocalTable,
    /// <summary>The administrator's <c>tls-policy default</c>.</summary>
    LocalDefault,
}

public static class TlsPolicySources
{
    public static string Name(TlsPolicySource source) => source switch
    {
        TlsPolicySource.Dns => "DNS",
        TlsPolicySource.Cache => "cache",
        TlsPolicySource.LocalTable => "local table",
        _ => "local default",
    };
}
