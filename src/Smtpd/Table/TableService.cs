namespace Smtpd.Table;

/// <summary>The lookup services a table can provide (OpenSMTPD's K_* kinds).</summary>
public enum TableService
{
    Domain,
    Alias,
    Virtual,
    UserInfo,
    Credentials,
    NetAddr,
    Source,
    MailAddr,
    MailAddrMap,
    AddrName,
    RelayHost,
    /// <summary>Ours: <c>tls-policy &lt;t&gt;</c>, domain → TLS policy.</summary>
    TlsPolicy,
}
