using System.Net;
using System.Runtime.CompilerServices;
using Smtpd.Mta.TlsPolicy;
using Smtpd.Mta.TlsPolicy.Rpt;

namespace Smtpd.Mta;

// What TLS-RPT (RFC 8460) counts, recorded as the MTA meets it: a route its TLS policy refused,
// each session used under a domain's policy (success, or for an MTA-STS testing policy the check
// it would have failed), and each session a policy's TLS check stopped.
public sealed partial class MtaProcess
{
    /// <summary>Where TLS outcomes are recorded for reports; null: nowhere (tls-rpt is off by default).</summary>
    public TlsRptRecorder? TlsReports { get; init; }

    /// <summary>
    /// The policy domains each live session has been counted for. A session is shared by every
    /// domain whose route asks the same of the same MX host, so it is counted once for each of
    /// them, not only for the domain whose route happened to open it.
    /// </summary>
    readonly ConditionalWeakTable<SmtpClientSession, HashSet<string>> _sessionReportedFor = new();

    void RecordRouteFailure(Route route)
    {
        if (TlsReports is { } reports && route.TlsPolicy is { } policy && route.TlsRptResult is { } result)
            reports.Failure(policy, new TlsRptRecorder.FailureKey(result, null, null, null, route.Failure?.Text));
    }

    /// <summary>A session (new or reused) about to carry the route's mail: counted once per session and policy domain.</summary>
    void RecordSessionUsed(Route route, NextHop hop, SmtpClientSession session)
    {
        if (TlsReports is not { } reports || route.TlsPolicy is not { } policy) return;
        // A policy that could not be had fails the session whatever its TLS (RFC 8460 4.3.2.1).
        if (!session.Secure && policy.Discovery is null) return;
        var counted = _sessionReportedFor.GetValue(session, _ => new HashSet<string>(StringComparer.OrdinalIgnoreCase));
        lock (counted) if (!counted.Add(policy.Domain)) return;
        if (policy.Discovery is { } discovery)
        {
            reports.Failure(policy, new TlsRptRecorder.FailureKey(discovery.ResultType, session.Source, hop.Host, session.Remote.Address.ToString(), discovery.Reason));
            return;
        }
        if (policy.Mode == TlsPolicyMode.StsTesting && policy.Sts is { } sts && !(session.Verified && sts.Allows(hop.Host)))
        {
            string result = !session.Verified ? TlsRptResult.OfCertificateProblem(session.CertificateProblem ?? "") : TlsRptResult.ValidationFailure;
            reports.Failure(policy, new TlsRptRecorder.FailureKey(result, session.Source, hop.Host, session.Remote.Address.ToString(),
                session.CertificateProblem ?? $"{hop.Host} not in the policy"));
            return;
        }
        reports.Success(policy);
    }

    void RecordSessionFailure(Route route, NextHop hop, IPAddress address, MtaException ex)
    {
        if (TlsReports is not { } reports || route.TlsPolicy is not { } policy) return;
        string? result = ex is PeerCertificateException ? TlsRptResult.OfCertificateProblem(ex.Message)
            : ex.Message.StartsWith("TLS required but not offered", StringComparison.Ordinal) ? TlsRptResult.StartTlsNotSupported
            : null;
        if (result is not null)
            reports.Failure(policy, new TlsRptRecorder.FailureKey(result, null, hop.Host, address.ToString(), ex.Message));
    }
}
