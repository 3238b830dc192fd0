using System.Net;
using DnsClient;
using DnsClient.Protocol;

namespace Smtpd.Lookup.Dns;

/// <summary>
/// The one resolver of the daemon: MX lookups and host addresses for the MTA, reverse and
/// forward-confirmed names of clients for sessions, filters and rules, raw answers for smtpctl
/// spf walk. Host names and reverse names come from /etc/hosts first, then the DNS (as "hosts: files dns"); the DNS servers and
/// their timeout and attempts come from /etc/resolv.conf, re-read when it changes, or from
/// <c>SMTPD_RESOLVER</c> (<c>ADDRESS[:PORT]</c>, for tests and split-horizon setups). Missing MX
/// records mean the implicit MX (RFC 5321 5.1); a lone "." MX is a null MX (RFC 7505). No DNS
/// trouble ever throws anything but <see cref="DnsTempFailException"/> from here: a query that
/// gets no answer is a temporary failure that names the servers asked.
/// </summary>
public sealed partial class DnsResolver : IDnsResolver
{
    /// <summary>How often, at most, the files are checked for changes.</summary>
    static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(2);

    readonly string _resolvConfPath;
    readonly string _hostsPath;
    readonly IReadOnlyList<IPEndPoint>? _fixedServers;
    readonly SmtpdLog? _log;
    readonly TimeProvider _time;
    readonly object _lock = new();
    State? _state;

    sealed record State(ResolvConf Conf, LookupClient Client, LookupClient DnssecClient, FileStamp ConfStamp, HostsFile Hosts, FileStamp HostsStamp, DateTimeOffset Checked);
    readonly record struct FileStamp(DateTime Written, long Length)
    {
        public static FileStamp Of(string path)
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileStamp(info.LastWriteTimeUtc, info.Length) : default;
        }
    }

    /// <param name="servers">Servers that replace resolv.conf's (its timeout and attempts still apply).</param>
    /// <param name="log">Where to say which servers are used and what is wrong with the configuration.</param>
    public DnsResolver(IReadOnlyList<IPEndPoint>? servers = null, SmtpdLog? log = null,
        string resolvConf = ResolvConf.SystemPath, string hosts = HostsFile.SystemPath, TimeProvider? time = null)
    {
        _fixedServers = servers is { Count: > 0 } ? servers : null;
        _log = log;
        _resolvConfPath = resolvConf;
        _hostsPath = hosts;
        _time = time ?? TimeProvider.System;
    }

    /// <param name="setting">SMTPD_RESOLVER (<see cref="SmtpdSettings.Resolver"/>): null for resolv.conf's servers.</param>
    /// <exception cref="InvalidOperationException">SMTPD_RESOLVER is not an address.</exception>
    public static DnsResolver FromSetting(string? setting, SmtpdLog? log = null)
    {
        if (string.IsNullOrWhiteSpace(setting)) return new DnsResolver(log: log);
        if (!IPEndPoint.TryParse(setting, out var endpoint))
            throw new InvalidOperationException($"SMTPD_RESOLVER: '{setting}' is not ADDRESS[:PORT]");
        if (endpoint.Port == 0) endpoint.Port = 53;
        return new DnsResolver([endpoint], log);
    }

    /// <summary>The configuration in force: read at first use, again when either file changed.</summary>
    State Current()
    {
        var now = _time.GetUtcNow();
        var state = Volatile.Read(ref _state);
        if (state is not null && now - state.Checked < RecheckInterval) return state;
        lock (_lock)
        {
            state = _state;
            if (state is not null && now - state.Checked < RecheckInterval) return state;
            var confStamp = FileStamp.Of(_resolvConfPath);
            var hostsStamp = FileStamp.Of(_hostsPath);
            var hosts = state is not null && state.HostsStamp == hostsStamp ? state.Hosts : HostsFile.Read(_hostsPath);
            if (state is not null && state.ConfStamp == confStamp)
                state = state with { Hosts = hosts, HostsStamp = hostsStamp, Checked = now };
            else
            {
                var conf = ResolvConf.Read(_resolvConfPath);
                if (_fixedServers is not null) conf = conf with { Servers = _fixedServers, DefaultServer = false };
                string source = _fixedServers is not null ? "SMTPD_RESOLVER" : _resolvConfPath;
                if (conf.DefaultServer)
                    _log?.Warn($"resolver: {_resolvConfPath} names no nameserver: asking 127.0.0.1, as the C library does");
                else
                    _log?.Info($"resolver: nameservers from {source}: {conf}");
                state = new State(conf, Client(conf), Client(conf, dnssec: true), confStamp, hosts, hostsStamp, now);
            }
            Volatile.Write(ref _state, state);
            return state;
        }
    }

    /// <param name="dnssec">Sets the DO bit (RFC 3225), so that a validating resolver says whether it validated the answer (AD).</param>
    static LookupClient Client(ResolvConf conf, bool dnssec = false) => new(new LookupClientOptions(conf.Servers.Select(s => new NameServer(s)).ToArray())
    {
        RequestDnsSecRecords = dnssec,
        Timeout = conf.Timeout,
        // resolv.conf's attempts are tries of each server; DnsClient counts retries after the first.
        Retries = conf.Attempts - 1,
        UseRandomNameServer = conf.Rotate,
        ThrowDnsErrors = false,
        UseCache = true,
        ContinueOnDnsError = false,
        ContinueOnEmptyResponse = false,
        UseTcpFallback = true,
    });

    /// <summary>One DNS query; anything but an answer (timeout, refused, unreachable network) is a <see cref="DnsTempFailException"/>.</summary>
    async Task<IDnsQueryResponse> QueryAsync(State state, string name, QueryType type, CancellationToken ct, bool dnssec = false)
    {
        try { return await (dnssec ? state.DnssecClient : state.Client).QueryAsync(name, type, QueryClass.IN, ct); }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw new DnsTempFailException($"DNS error for {name} {type}: {Reason(ex)} (asked {string.Join(' ', state.Conf.Servers)}, " +
                $"timeout {state.Conf.Timeout.TotalSeconds:0} s, attempts {state.Conf.Attempts})");
        }
    }

    static string Reason(Exception ex) => ex switch
    {
        DnsResponseException { Code: DnsResponseCode.ConnectionTimeout } => "no answer",
        DnsResponseException d => d.Code.ToString(),
        System.Net.Sockets.SocketException s => s.SocketErrorCode.ToString(),
        _ => ex.GetType().Name,
    };

    public async Task<MxLookup> LookupMxAsync(string domain, CancellationToken ct)
    {
        var state = Current();
        IDnsQueryResponse response;
        try { response = await QueryAsync(state, domain, QueryType.MX, ct); }
        catch (DnsTempFailException ex) { return new MxLookup.Temporary(ex.Message); }

        switch (response.Header.ResponseCode)
        {
            case DnsHeaderResponseCode.NoError: break;
            case DnsHeaderResponseCode.NotExistentDomain: return new MxLookup.Permanent($"Domain {domain} does not exist");
            default: return new MxLookup.Temporary($"DNS error for {domain}: {response.Header.ResponseCode}");
        }

        var mx = response.Answers.MxRecords().ToList();
        if (mx.Count == 1 && (mx[0].Exchange.Value is "." or ""))
            return new MxLookup.Permanent($"Domain {domain} does not accept mail (null MX)");
        if (mx.Count == 0)
            return new MxLookup.Found([new MxHost(domain, 0)]); // implicit MX: the domain's own addresses

        return new MxLookup.Found(mx
            .Where(r => r.Exchange.Value is not ("." or ""))
            .Select(r => new MxHost(r.Exchange.Value.TrimEnd('.'), r.Preference))
            .OrderBy(h => h.Preference)
            .ToList());
    }

    /// <summary>
    /// The records of one type a name has, from the DNS only (no /etc/hosts, no implicit MX):
    /// what <c>smtpctl spf walk</c> reads. Empty for a name that does not exist or has none.
    /// </summary>
    /// <exception cref="DnsTempFailException">No answer, or an error other than "no such name".</exception>
    public async Task<IReadOnlyList<DnsAnswer>> QueryAsync(string name, DnsRecordType type, CancellationToken ct)
    {
        var state = Current();
        var query = QueryTypeOf(type);
        var response = await QueryAsync(state, name, query, ct);
        if (response.Header.ResponseCode is not (DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain))
            throw new DnsTempFailException($"DNS error for {name} {query}: {response.Header.ResponseCode}");
        return Records(response, type);
    }

    static QueryType QueryTypeOf(DnsRecordType type) => type switch
    {
        DnsRecordType.A => QueryType.A, DnsRecordType.Aaaa => QueryType.AAAA, DnsRecordType.Mx => QueryType.MX,
        DnsRecordType.Tlsa => QueryType.TLSA, _ => QueryType.TXT,
    };

    /// <summary>The records of the type asked in an answer section.</summary>
    static List<DnsAnswer> Records(IDnsQueryResponse response, DnsRecordType type)
    {
        static string Owner(DnsResourceRecord r) => r.DomainName.Value.TrimEnd('.');
        // A CNAME in the answer is followed by the server: only the records of the type asked count.
        return type switch
        {
            DnsRecordType.A => response.Answers.ARecords().Select(r => (DnsAnswer)new DnsAnswer.Address(Owner(r), r.Address)).ToList(),
            DnsRecordType.Aaaa => response.Answers.AaaaRecords().Select(r => (DnsAnswer)new DnsAnswer.Address(Owner(r), r.Address)).ToList(),
            DnsRecordType.Mx => response.Answers.MxRecords().Select(r => (DnsAnswer)new DnsAnswer.Mx(Owner(r), r.Exchange.Value, r.Preference)).ToList(),
            DnsRecordType.Tlsa => response.Answers.TlsaRecords().Select(r => (DnsAnswer)new DnsAnswer.Tlsa(Owner(r),
                (byte)r.CertificateUsage, (byte)r.Selector, (byte)r.MatchingType, r.CertificateAssociationData.ToArray())).ToList(),
            _ => response.Answers.TxtRecords().Select(r => (DnsAnswer)new DnsAnswer.Txt(Owner(r), string.Concat(r.Text))).ToList(),
        };
    }

    public async Task<IReadOnlyList<IPAddress>> ResolveHostAsync(string host, CancellationToken ct)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal)) return [literal];
        var state = Current();
        if (state.Hosts.AddressesOf(host) is { } listed) return listed;
        var addresses = new List<IPAddress>();
        string? failure = null;
        // Both families at once: a server that does not answer costs one timeout, not two.
        var queries = new[] { QueryType.A, QueryType.AAAA }.Select(type => QueryAsync(state, host, type, ct)).ToArray();
        foreach (var query in queries)
        {
            try
            {
                var response = await query;
                if (response.Header.ResponseCode is DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain)
                    addresses.AddRange(response.Answers.OfType<AddressRecord>().Select(a => a.Address));
                else
                    failure = $"DNS error for {host}: {response.Header.ResponseCode}";
            }
            catch (DnsTempFailException ex) { failure = ex.Message; }
        }
        // One family answering is enough; with none and an error, the answer is "try later".
        if (addresses.Count == 0 && failure is not null) throw new DnsTempFailException(failure);
        return addresses;
    }

    public async Task<ReverseName> ReverseAsync(IPAddress address, CancellationToken ct)
    {
        address = HostsFile.Normal(address);
        var state = Current();
        string? name = state.Hosts.NameOf(address);
        if (name is null)
        {
            IDnsQueryResponse response;
            try { response = await QueryAsync(state, address.GetArpaName(), QueryType.PTR, ct); }
            catch (DnsTempFailException ex) { return new ReverseName(null, false, ex.Message); }
            if (response.Header.ResponseCode is not (DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain))
                return new ReverseName(null, false, $"DNS error for {address.GetArpaName()}: {response.Header.ResponseCode}");
            name = response.Answers.PtrRecords().Select(r => r.PtrDomainName.Value.TrimEnd('.')).FirstOrDefault(n => n.Length > 0);
            if (name is null) return ReverseName.None;
        }
        // Forward confirmation, also through /etc/hosts first: localhost -> 127.0.0.1 holds.
        try { return new ReverseName(name, (await ResolveHostAsync(name, ct)).Select(HostsFile.Normal).Contains(address)); }
        catch (DnsTempFailException ex) { return new ReverseName(name, false, ex.Message); }
    }
}
