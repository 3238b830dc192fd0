namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>The result types of RFC 8460 4.3 that our MTA can tell apart.</summary>
public static class TlsRptResult
{
    public const string StartTlsNotSupported = "starttls-not-supported";
    public const string CertificateHostMismatch = "certificate-host-mismatch";
    public const string CertificateExpired = "certificate-expired";
    public const string CertificateNotTrusted = "certificate-not-trusted";
    public const string ValidationFailure = "validation-failure";
    public const string DaneRequired = "dane-required";
    public const string StsPolicyFetchError = "sts-policy-fetch-error";
    public const string StsPolicyInvalid = "sts-policy-invalid";
    public const string DnssecInvalid = "dnssec-invalid";

    /// <summary>A certificate problem as <see cref="PeerCertificateCheck"/> or DANE words it, as a result type.</summary>
    public static string OfCertificateProblem(string problem) =>
        problem.Contains("DANE:", StringComparison.Ordinal) ? ValidationFailure
        : problem.Contains("name mismatch", StringComparison.Ordinal) ? CertificateHostMismatch
        : problem.Contains("expired", StringComparison.Ordinal) ? CertificateExpired
        : CertificateNotTrusted;
}
