using System.DirectoryServices.Protocols;
using System.Net;

namespace Smtpd.Table;

/// <summary>
/// <c>ldap:/path/ldap.conf</c>, in the format of opensmtpd-extras' table-ldap
/// (<see cref="LdapTableConfig"/>), through System.DirectoryServices.Protocols (libldap). Each
/// lookup is a subtree search under <c>basedn</c> with the service's filter, the key (in
/// lowercase) put in for <c>%u</c>/<c>%s</c>. Check: some entry matches. Lookup, as table-ldap:
/// aliases and mailaddrmap give every value of their attribute over all entries (joined with
/// commas); domain, mailaddr and netaddr the first value; credentials "user:hash" and userinfo
/// "uid:gid:home" from the first value of each attribute, the last complete entry winning. A
/// <c>{CRYPT}</c> prefix (RFC 2307 userPassword) is dropped from the hash.
/// One bound connection is kept; when it fails it is dropped and the lookup tried once more on a
/// new one (bound again); a server that cannot be reached, errs or does not answer within 10 s
/// is a temporary failure, and the next lookup connects again.
/// </summary>
public sealed class LdapTable : ITableBackend
{
    static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    /// <summary>LDAP_TIMEOUT as S.DS.P reports it (its Windows value), and as libldap does.</summary>
    const int LdapTimeout = 0x55, LibLdapTimeout = -5;
    readonly string _name;
    readonly LdapTableConfig _config;
    readonly Lock _gate = new();
    LdapConnection? _connection;

    public LdapTable(string name, string configPath)
    {
        _name = name;
        _config = LdapTableConfig.Read(name, configPath);
    }

    public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) => new(Check(service, key));
    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(service, key));
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) => new(Fetch(service));

    public string Name => _name;

    bool Check(TableService service, string key)
    {
        if (QueryFor(service) is not { } query) return false;
        // "1.1": no attributes, only whether an entry matches (RFC 4511 section 4.5.1.8).
        return Search(query, key, ["1.1"]).Count > 0;
    }

    string? Lookup(TableService service, string key)
    {
        if (QueryFor(service) is not { } query) return null;
        var entries = Search(query, key, [.. query.Attributes]);
        switch (service)
        {
            case TableService.Alias or TableService.Virtual or TableService.MailAddrMap:
                var all = entries.SelectMany(e => Values(e, query.Attributes[0])).ToList();
                return all.Count == 0 ? null : string.Join(", ", all);
            case TableService.Credentials or TableService.UserInfo:
                string? result = null;
                foreach (var entry in entries)
                {
                    var first = query.Attributes.Select(a => Values(entry, a).FirstOrDefault()).ToList();
                    if (first.Any(v => v is null)) continue; // an entry missing one attribute is ignored
                    if (service == TableService.Credentials && first[1]!.StartsWith("{CRYPT}", StringComparison.OrdinalIgnoreCase)) first[1] = first[1]![7..];
                    result = string.Join(':', first);
                }
                return result;
            default:
                return entries.Select(e => Values(e, query.Attributes[0]).FirstOrDefault()).FirstOrDefault(v => v is not null);
        }
    }

    /// <summary>table-ldap answers fetch requests with an error; so do we, rather than pretend the table is empty.</summary>
    IReadOnlyList<string> Fetch(TableService service) =>
        throw new TableTempFailException(_name, "ldap tables cannot list their entries (no fetch in table-ldap)");

    LdapQuery? QueryFor(TableService service) =>
        _config.Queries.TryGetValue(TableServiceNames.Of(service), out var q) ? q : null;

    static IEnumerable<string> Values(SearchResultEntry entry, string attribute)
    {
        foreach (DirectoryAttribute a in entry.Attributes.Values)
            if (string.Equals(a.Name, attribute, StringComparison.OrdinalIgnoreCase))
                return a.GetValues(typeof(string)).Cast<string>();
        return [];
    }

    List<SearchResultEntry> Search(LdapQuery query, string key, string[] attributes)
    {
        string filter = query.FilterFor(key.ToLowerInvariant(), _name);
        lock (_gate)
        {
            for (int attempt = 1; ; attempt++)
            {
                bool reused = _connection is not null;
                try
                {
                    _connection ??= Connect();
                    return SearchWithDeadline(_connection, new SearchRequest(_config.BaseDn, filter, SearchScope.Subtree, attributes));
                }
                catch (Exception ex) when (ex is DirectoryException or InvalidOperationException or TimeoutException)
                {
                    // Never go on with a connection that failed: libldap would quietly reopen it
                    // without our bind, and an anonymous search may see nothing (a false 550).
                    _connection?.Dispose();
                    _connection = null;
                    // A kept connection may have died while idle (the server restarted): one fresh
                    // try; not after a timeout, when the server is there but does not answer
                    // (ours, or libldap's own when it holds: the Native AOT build sees that one).
                    bool timedOut = ex is TimeoutException or LdapException { ErrorCode: LdapTimeout or LibLdapTimeout };
                    if (reused && attempt == 1 && !timedOut) continue;
                    throw new TableTempFailException(_name, $"{_config.Url}: {ex.Message}");
                }
            }
        }
    }

    /// <summary>
    /// The search, given <see cref="RequestTimeout"/> and a second: on Linux, SendRequest's own
    /// timeout does not hold when the server has stopped answering (tested with a stopped slapd).
    /// A search past its deadline keeps its connection, disposed once libldap lets go of it.
    /// </summary>
    List<SearchResultEntry> SearchWithDeadline(LdapConnection connection, SearchRequest request)
    {
        var search = Task.Run(() => (SearchResponse)connection.SendRequest(request, RequestTimeout));
        // Waits without throwing; GetResult then throws the search's own exception.
        if (!((IAsyncResult)search).AsyncWaitHandle.WaitOne(RequestTimeout + TimeSpan.FromSeconds(1)))
        {
            _connection = null;
            _ = search.ContinueWith(_ => connection.Dispose(), TaskScheduler.Default);
            throw new TimeoutException($"no answer within {RequestTimeout.TotalSeconds:0} s");
        }
        return search.GetAwaiter().GetResult().Entries.Cast<SearchResultEntry>().ToList();
    }

    LdapConnection Connect()
    {
        var url = _config.Url;
        bool tls = url.Scheme == "ldaps";
        int port = url.IsDefaultPort || url.Port < 0 ? (tls ? 636 : 389) : url.Port;
        if (LibLdapTimeouts.Ensure() is { } problem) throw new InvalidOperationException(problem);
        var connection = new LdapConnection(new LdapDirectoryIdentifier(url.Host, port, fullyQualifiedDnsHostName: false, connectionless: false))
        {
            AuthType = _config.BindDn is null ? AuthType.Anonymous : AuthType.Basic,
            Timeout = RequestTimeout,
        };
        try
        {
            connection.SessionOptions.ProtocolVersion = 3;
            connection.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
            if (tls) connection.SessionOptions.SecureSocketLayer = true;
            if (_config.BindDn is not null) connection.Credential = new NetworkCredential(_config.BindDn, _config.Password ?? "");
            connection.Bind();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }
}
