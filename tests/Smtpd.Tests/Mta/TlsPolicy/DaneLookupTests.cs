using Smtpd.Lookup.Dns;
using Smtpd.Mta.TlsPolicy.Dane;

namespace Smtpd.Tests.Mta.TlsPolicy;

// Which answers make DANE apply (RFC 7672 2.2): validated MX records, then per MX host validated
// addresses and TLSA records. A DNS with chosen answers and AD bits stands in for Unbound here;
// DaneNamespaceTests has the real one.
public sealed class DaneLookupTests
{
    static readonly DnsAnswer.Tlsa Record = new("_25._tcp.mx.example.net", 3, 1, 1, new byte[32]);

    sealed class Dns : IDnssecResolver
    {
        public bool MxSecure = true, AddressSecure = true, TlsaSecure = true, TlsaFails;
        public IReadOnlyList<DnsAnswer> Tlsa = [Record];

        public Task<DnssecAnswer> QueryDnssecAsync(string name, DnsRecordType type, CancellationToken ct) => type switch
        {
            DnsRecordType.Mx => Answer([new DnsAnswer.Mx(name, "mx.example.net.", 10)], MxSecure),
            DnsRecordType.A => Answer([new DnsAnswer.Address(name, System.Net.IPAddress.Loopback)], AddressSecure),
            DnsRecordType.Tlsa when TlsaFails => throw new DnsTempFailException($"DNS error for {name} TLSA: ServerFailure"),
            DnsRecordType.Tlsa => Answer(Tlsa, TlsaSecure),
            _ => Answer([], false),
        };

        static Task<DnssecAnswer> Answer(IReadOnlyList<DnsAnswer> records, bool secure) =>
            Task.FromResult(new DnssecAnswer(records, secure, true, secure ? null : "no AD bit"));
    }

    static Task<DaneLookup.Result> FindAsync(Dns dns) => new DaneLookup(dns).FindAsync("example.net", 25, default);

    [Fact]
    public async Task All_validated_gives_the_host_its_tlsa_records()
    {
        var result = await FindAsync(new Dns());
        Assert.True(result.HasDane);
        Assert.Same(Record, Assert.Single(result.Sets["mx.example.net"].Records));
    }

    [Theory]
    [InlineData(false, true, true)]
    [InlineData(true, false, true)] // the host's address not validated: its TLSA records do not count
    [InlineData(true, true, false)]
    public async Task Anything_not_validated_means_no_dane(bool mx, bool address, bool tlsa)
    {
        var result = await FindAsync(new Dns { MxSecure = mx, AddressSecure = address, TlsaSecure = tlsa });
        Assert.False(result.HasDane);
        Assert.Null(result.Failure);
        Assert.Contains("no AD bit", result.NotSecure);
    }

    [Fact]
    public async Task A_failed_tlsa_lookup_for_a_validated_host_is_a_failure_not_a_downgrade()
    {
        var result = await FindAsync(new Dns { TlsaFails = true });
        Assert.StartsWith("TLSA lookup for mx.example.net failed", result.Failure);
    }

    [Fact]
    public async Task A_validated_set_without_usable_records_still_requires_tls()
    {
        var result = await FindAsync(new Dns { Tlsa = [Record with { Usage = 1 }] });
        Assert.False(result.HasDane);
        Assert.Contains("mx.example.net", result.EncryptOnly);
    }
}
