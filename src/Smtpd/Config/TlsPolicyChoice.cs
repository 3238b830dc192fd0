namespace Smtpd.Config;

/// <summary>
/// What an administrator asks for mail to a destination domain (<c>tls-policy default X</c> and
/// the values of the <c>tls-policy &lt;table&gt;</c>): a choice made here replaces what the
/// domain publishes (DANE, MTA-STS), except <see cref="Auto"/>, which follows it.
/// </summary>
public enum TlsPolicyChoice
{
    /// <summary>DANE where the domain has secure TLSA records, else its MTA-STS policy, else opportunistic TLS.</summary>
    Auto,
    /// <summary>Plain text: STARTTLS is never tried (a peer whose TLS is broken).</summary>
    None,
    /// <summary>TLS required, the certificate not checked.</summary>
    Encrypt,
    /// <summary>TLS required with a certificate that chains to a trusted root and names the MX host.</summary>
    Verify,
    /// <summary>Only with DANE: no secure TLSA record means no delivery (a temporary failure).</summary>
    DaneOnly,
    /// <summary>Only with an MTA-STS policy, enforced even when the domain publishes <c>testing</c>.</summary>
    StsOnly,
}

public static class TlsPolicyChoices
{
    /// <summary>The words smtpd.conf and the table take, for error messages.</summary>
    public const string Words = "auto, none, encrypt, verify, dane-only or sts-only";

    public static string Name(TlsPolicyChoice choice) => choice switch
    {
        TlsPolicyChoice.DaneOnly => "dane-only",
        TlsPolicyChoice.StsOnly => "sts-only",
        _ => choice.ToString().ToLowerInvariant(),
    };

    public static bool TryParse(string text, out TlsPolicyChoice choice)
    {
        foreach (var c in Enum.GetValues<TlsPolicyChoice>())
            if (string.Equals(Name(c), text, StringComparison.OrdinalIgnoreCase)) { choice = c; return true; }
        choice = TlsPolicyChoice.Auto;
        return false;
    }

    /// <summary>Why a table value is not a policy, or null when it is one.</summary>
    public static string? Problem(string text) =>
        TryParse(text.Trim(), out _) ? null : $"not a TLS policy ({Words})";
}
