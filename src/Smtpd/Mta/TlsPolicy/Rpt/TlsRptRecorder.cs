namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>
/// What TLS-RPT (RFC 8460) reports: per destination domain and the policy applied there,
/// sessions that succeeded and those that failed, by result type, MX and address. The MTA
/// records each outcome; the reporter takes a period's records when the period ends.
/// </summary>
public sealed class TlsRptRecorder
{
    /// <summary>One failure kind: its result type and where (RFC 8460 4.4's failure-details).</summary>
    public sealed record FailureKey(string ResultType, string? SendingIp, string? MxHost, string? ReceivingIp, string? Reason);

    /// <summary>The records of one policy of one domain over a period.</summary>
    public sealed class PolicyRecord(OutboundTlsPolicy policy)
    {
        public OutboundTlsPolicy Policy { get; } = policy;
        public long Successes { get; set; }
        public Dictionary<FailureKey, long> Failures { get; } = [];
    }

    /// <summary>A period's records: from when to when, by policy domain and policy type.</summary>
    public sealed record Period(DateTimeOffset Start, DateTimeOffset End, IReadOnlyList<PolicyRecord> Records);

    readonly object _lock = new();
    Dictionary<(string Domain, string Type), PolicyRecord> _records = [];

    /// <summary>RFC 8460 4.4 policy-type of a policy.</summary>
    public static string PolicyType(OutboundTlsPolicy policy) => policy.Mode switch
    {
        TlsPolicyMode.Dane => "tlsa",
        TlsPolicyMode.StsEnforce or TlsPolicyMode.StsTesting => "sts",
        _ => "no-policy-found",
    };

    public void Success(OutboundTlsPolicy policy)
    {
        lock (_lock) RecordOf(policy).Successes++;
    }

    public void Failure(OutboundTlsPolicy policy, FailureKey failure)
    {
        lock (_lock)
        {
            var record = RecordOf(policy);
            record.Failures[failure] = record.Failures.GetValueOrDefault(failure) + 1;
        }
    }

    PolicyRecord RecordOf(OutboundTlsPolicy policy)
    {
        var key = (policy.Domain, PolicyType(policy));
        if (!_records.TryGetValue(key, out var record)) _records[key] = record = new PolicyRecord(policy);
        return record;
    }

    /// <summary>The records since the last call, as those of the period from <paramref name="start"/> to <paramref name="end"/>.</summary>
    public Period Take(DateTimeOffset start, DateTimeOffset end)
    {
        lock (_lock)
        {
            var period = new Period(start, end, _records.Values.ToList());
            _records = [];
            return period;
        }
    }
}
