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

    /// <summary>
    /// The records of one policy of one domain over a period, with what the report says of the
    /// policy (RFC 8460 4.4: its type, its strings, the MX hosts it names), taken when it was first
    /// met, so that records read back after a restart make the same report.
    /// </summary>
    public sealed class PolicyRecord(string domain, string type, IReadOnlyList<string> strings, IReadOnlyList<string> mxHosts)
    {
        public string Domain { get; } = domain;
        public string Type { get; } = type;
        public IReadOnlyList<string> Strings { get; } = strings;
        public IReadOnlyList<string> MxHosts { get; } = mxHosts;
        public long Successes { get; set; }
        public Dictionary<FailureKey, long> Failures { get; } = [];

        public static PolicyRecord Of(OutboundTlsPolicy policy)
        {
            string type = PolicyType(policy);
            return type switch
            {
                // The STS policy's lines, or the TLSA records in presentation format.
                "sts" when policy.Sts is { } sts => new PolicyRecord(policy.Domain, type,
                    ["version: STSv1", $"mode: {sts.Mode}", .. sts.Mx.Select(m => $"mx: {m}"), $"max_age: {(long)sts.MaxAge.TotalSeconds}"], [.. sts.Mx]),
                "tlsa" => new PolicyRecord(policy.Domain, type,
                    [.. policy.Dane.Values.SelectMany(set => set.Records).Select(r => $"{r.Usage} {r.Selector} {r.MatchingType} {Convert.ToHexString(r.Data).ToLowerInvariant()}")],
                    [.. policy.Dane.Keys.Concat(policy.EncryptOnly)]),
                _ => new PolicyRecord(policy.Domain, type, [], []),
            };
        }

        public PolicyRecord Copy()
        {
            var copy = new PolicyRecord(Domain, Type, Strings, MxHosts) { Successes = Successes };
            foreach (var (k, v) in Failures) copy.Failures[k] = v;
            return copy;
        }
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
        if (!_records.TryGetValue(key, out var record)) _records[key] = record = PolicyRecord.Of(policy);
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

    /// <summary>A copy of the records so far (to be saved), the recorder going on.</summary>
    public IReadOnlyList<PolicyRecord> Copy()
    {
        lock (_lock) return [.. _records.Values.Select(r => r.Copy())];
    }

    /// <summary>Adds records read back after a restart to those of the period under way.</summary>
    public void Add(IEnumerable<PolicyRecord> restored)
    {
        lock (_lock)
            foreach (var r in restored)
            {
                var key = (r.Domain, r.Type);
                if (!_records.TryGetValue(key, out var record)) { _records[key] = r.Copy(); continue; }
                record.Successes += r.Successes;
                foreach (var (k, v) in r.Failures) record.Failures[k] = record.Failures.GetValueOrDefault(k) + v;
            }
    }
}
