using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Mta;
using Smtpd.Mta.TlsPolicy.Rpt;
using Smtpd.Queue;
using Smtpd.Table;

namespace Smtpd.Tests.Mta.TlsPolicy;

// TLS-RPT counts a TLS session for every domain whose mail it carried. Two domains share one MX
// (mx.shared.test = a ScriptedPeer with STARTTLS on loopback), so the MTA opens one session for
// the first and reuses it for the second. The lost report of issue 22: the session was counted
// only for the domain whose route opened it, the other domain had no record and got no report.
public sealed class TlsRptSharedSessionTests : IAsyncDisposable
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

    /// <summary>Every domain's MX is mx.shared.test, on loopback; no DNSSEC, so no DANE nor MTA-STS.</summary>
    sealed class SharedMx : IDnsResolver
    {
        public Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct) => Task.FromResult<MxLookup>(new MxLookup.Found([new MxHost("mx.shared.test", 10)]));
        public Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct) => Task.FromResult<IReadOnlyList<IPAddress>>([IPAddress.Loopback]);
        public Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct) => Task.FromResult(ReverseName.None);
    }

    public TlsRptSharedSessionTests()
    {
        // "encrypt": TLS is the policy of both domains, and both ask the same of the MX, so they share its sessions.
        var ruleset = ConfigParser.Parse("tls-policy default encrypt\naction \"out\" relay\nmatch from any for any action \"out\"\n", "t.conf");
        var log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Null);
        _mta = new MtaProcess(ruleset, new TableSet(ruleset), new SharedMx(), _queue, _bus, TimeProvider.System, log,
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

    /// <summary>A queued message to one recipient, relayed now; returns once the MTA says it was delivered.</summary>
    async Task RelayAsync(string rcpt)
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
        Assert.IsType<QueueDeliveryOk>(await NextAsync(_bus.Queue.Reader));
    }

    static async Task<T> NextAsync<T>(ChannelReader<T> reader)
    {
        using var bounded = new CancellationTokenSource(Bound);
        return await reader.ReadAsync(bounded.Token);
    }

    [Fact]
    public async Task A_session_shared_by_two_domains_counts_once_for_each_of_them()
    {
        await RelayAsync("bob@first.example");
        await RelayAsync("carol@second.example");
        await RelayAsync("dave@second.example");
        Assert.Equal(1, _peer.Connections); // one session carried all three
        Assert.Equal(1, _peer.TlsSessions);

        var period = _recorder.Take(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
        var successes = period.Records.ToDictionary(r => r.Policy.Domain, r => r.Successes);
        Assert.Equal(new Dictionary<string, long> { ["first.example"] = 1, ["second.example"] = 1 }, successes);
        Assert.All(period.Records, r => Assert.Empty(r.Failures));
    }
}
