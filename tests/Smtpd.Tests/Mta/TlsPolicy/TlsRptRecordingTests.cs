using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Threading.Channels;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Mta;
using Smtpd.Mta.TlsPolicy.Rpt;
using Smtpd.Queue;
using Smtpd.Table;

namespace Smtpd.Tests.Mta.TlsPolicy;

// What the MTA records for TLS-RPT, read back from the recorder and the report it makes. Every
// domain's MX is mx.shared.test = a ScriptedPeer with STARTTLS on loopback; the DNS is a fake
// that says what DNSSEC and MTA-STS give for each domain:
//   first.example, second.example  no policy published: opportunistic TLS, one shared session
//   unfetched.example              publishes an MTA-STS TXT record, its policy host has no address
//   bogus.example                  validated MX and address, the resolver cannot answer for TLSA
public sealed class TlsRptRecordingTests : IAsyncDisposable
{
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    readonly Bus _bus = new();
    readonly RamQueue _queue = new();
    readonly TlsRptRecorder _recorder = new();
    readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(60));
    readonly ScriptedPeer _peer = new ScriptedPeer
    {
        Extensions = ["PIPELINING", "STARTTLS"],
        StartTlsReply = "220 2.0.0 Ready to start TLS",
        TlsCertificate = SelfSigned("mx.shared.test"),
    }.Start();
    readonly MtaProcess _mta;
    readonly Task _running;

    sealed class FakeDns : IDnsResolver, IDnssecResolver
    {
        public Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct) => Task.FromResult<MxLookup>(new MxLookup.Found([new MxHost("mx.shared.test", 10)]));

        // The MTA-STS policy host has no address: its policy cannot be fetched.
        public Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<IPAddress>>(host.StartsWith("mta-sts.", StringComparison.Ordinal) ? [] : [IPAddress.Loopback]);

        public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => Task.FromResult(ReverseName.None);

        public Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct) => (name, type) switch
        {
            ("bogus.example", DnsRecordType.Mx) => Answer([new DnsAnswer.Mx(name, "mx.shared.test.", 10)], secure: true),
            ("mx.shared.test", DnsRecordType.A) => Answer([new DnsAnswer.Address(name, IPAddress.Loopback)], secure: true),
            (_, DnsRecordType.Tlsa) => throw new DnsTempFailException($"DNS error for {name} TLSA: ServerFailure"),
            ("_mta-sts.unfetched.example", DnsRecordType.Txt) => Answer([new DnsAnswer.Txt(name, "v=STSv1; id=1")], secure: false),
            _ => Answer([], secure: false),
        };

        static Task<DnssecAnswer> Answer(IReadOnlyList<DnsAnswer> records, bool secure) =>
            Task.FromResult(new DnssecAnswer(records, secure, true, secure ? null : "no AD bit"));
    }

    public TlsRptRecordingTests()
    {
        var ruleset = ConfigParser.Parse("action \"out\" relay\nmatch from any for any action \"out\"\n", "t.conf");
        var log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Null);
        _mta = new MtaProcess(ruleset, new TableSet(ruleset), new FakeDns(), _queue, _bus, TimeProvider.System, log,
            SmtpdSettings.Default with { MxPort = _peer.Port }) { TlsReports = _recorder };
        _running = _mta.RunAsync(_stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _running; } catch (OperationCanceledException) { }
        await _peer.DisposeAsync();
        _stop.Dispose();
    }

    static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var cert = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>A queued message to one recipient, relayed now; returns what the MTA tells the queue.</summary>
    async Task<QueueMessage> RelayAsync(string rcpt)
    {
        uint msgid = await _queue.MessageCreateAsync();
        await using (var w = _queue.MessageWriteStream(msgid)) await w.WriteAsync("Subject: x\r\n\r\nx\r\n"u8.ToArray());
        var envelope = new Envelope
        {
            Id = QueueIds.NewEnvelopeId(msgid), Dispatcher = "out", Type = EnvelopeType.Mta, Sender = "alice@example.org",
            Rcpt = rcpt, Dest = rcpt, CreationTime = DateTimeOffset.UtcNow, Ttl = 86400,
        };
        await _queue.EnvelopeCreateAsync(envelope);
        await _queue.MessageCommitAsync(msgid);
        _bus.Post(new MtaTransfer([envelope]));
        using var bounded = new CancellationTokenSource(Bound);
        return await _bus.Queue.Reader.ReadAsync(bounded.Token);
    }

    /// <summary>The period's report for one domain, as the reporter writes it (RFC 8460 4): its one policy.</summary>
    JsonElement ReportOf(TlsRptRecorder.Period period, string domain)
    {
        byte[] json = TlsRptReport.Json("reporter.test", "postmaster@reporter.test", "1", period.Start, period.End,
            period.Records.Where(r => r.Domain == domain));
        return Assert.Single(JsonDocument.Parse(json).RootElement.GetProperty("policies").EnumerateArray()).Clone();
    }

    [Fact]
    public async Task A_session_shared_by_two_domains_counts_once_for_each_of_them()
    {
        // The lost report of issue 22: the session was counted only for the domain whose route
        // opened it; the other domain had no record, so no report.
        Assert.IsType<QueueDeliveryOk>(await RelayAsync("bob@first.example"));
        Assert.IsType<QueueDeliveryOk>(await RelayAsync("carol@second.example"));
        Assert.IsType<QueueDeliveryOk>(await RelayAsync("dave@second.example"));
        Assert.Equal(1, _peer.Connections); // one session carried all three
        Assert.Equal(1, _peer.TlsSessions);

        var period = _recorder.Take(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
        var successes = period.Records.ToDictionary(r => r.Domain, r => r.Successes);
        Assert.Equal(new Dictionary<string, long> { ["first.example"] = 1, ["second.example"] = 1 }, successes);
        Assert.All(period.Records, r => Assert.Empty(r.Failures));
    }

    [Fact]
    public async Task An_mta_sts_policy_that_cannot_be_fetched_fails_each_session_as_sts_policy_fetch_error()
    {
        // The delivery itself goes on as without a policy (RFC 8461 5: no policy is known).
        Assert.IsType<QueueDeliveryOk>(await RelayAsync("bob@unfetched.example"));

        var report = ReportOf(_recorder.Take(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow), "unfetched.example");
        Assert.Equal("no-policy-found", report.GetProperty("policy").GetProperty("policy-type").GetString());
        Assert.Equal(0, report.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());
        Assert.Equal(1, report.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64());
        var detail = Assert.Single(report.GetProperty("failure-details").EnumerateArray());
        Assert.Equal("sts-policy-fetch-error", detail.GetProperty("result-type").GetString());
        Assert.Equal("mx.shared.test", detail.GetProperty("receiving-mx-hostname").GetString());
        Assert.Equal("127.0.0.1", detail.GetProperty("receiving-ip").GetString());
        Assert.Contains("https://mta-sts.unfetched.example/.well-known/mta-sts.txt", detail.GetProperty("failure-reason-code").GetString());
    }

    [Fact]
    public async Task A_tlsa_lookup_the_resolver_cannot_answer_is_reported_as_dnssec_invalid()
    {
        // No downgrade: the mail waits (RFC 7672 2.2.2), and the report says why.
        Assert.IsType<QueueDeliveryTempFail>(await RelayAsync("bob@bogus.example"));
        Assert.Equal(0, _peer.Connections);

        var report = ReportOf(_recorder.Take(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow), "bogus.example");
        Assert.Equal("tlsa", report.GetProperty("policy").GetProperty("policy-type").GetString());
        Assert.Equal(1, report.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64());
        var detail = Assert.Single(report.GetProperty("failure-details").EnumerateArray());
        Assert.Equal("dnssec-invalid", detail.GetProperty("result-type").GetString());
        Assert.Contains("TLSA lookup for mx.shared.test failed", detail.GetProperty("failure-reason-code").GetString());
    }
}
