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
/// One bound connection is kept; when it fails it is dropped and
/// the lookup tried once more on a new one (bound again); a server that cannot be reached, errs
/// or does not answer within 10 s is a temporary failure, and the next lookup connects again.
/// S.DS.P has no asynchronous API that holds on Linux (with a stopped slapd, a search through
/// BeginSendRequest held its caller for minutes), so a search or a bind runs on a thread
/// of its own and the lookup awaits it with a deadline: no session and no pool thread waits on
/// the server. Searches take turns on the connection, as before (S.DS.P does not promise that a
/// connection may serve several threads at once), so a hung server holds one thread; the
/// lookups waiting for their turn hold none and give up at the same deadline.
/// </summary>
public sealed class LdapTable : ITableBackend, IDisposable
{
    static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    /// <summary>A search, and a bind with one more search when a kept connection had died.</summary>
    static readonly TimeSpan LookupDeadline = 2 * (RequestTimeout + TimeSpan.FromSeconds(1));
    /// <summary>LDAP_TIMEOUT as S.DS.P reports it (its Windows value), and as libldap does.</summary>
    const int LdapTimeout = 0x55, LibLdapTimeout = -5;
    readonly string _name;
    readonly LdapTableConfig _config;
    readonly SemaphoreSlim _connecting = new(1, 1);
    readonly SemaphoreSlim _searchTurn = new(1, 1);
    volatile LdapConnection? _connection;

    public LdapTable(string name, string configPath)
    {
        _name = name;
        _config = LdapTableConfig.Read(name, configPath);
    }

    public string Name => _name;

    public async ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default)
    {
        if (QueryFor(service) is not { } query) return false;
        // "1.1": no attributes, only whether an entry matches (RFC 4511 section 4.5.1.8).
        return (await SearchAsync(query, key, ["1.1"], ct)).Count > 0;
    }

    public async ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default)
    {
        if (QueryFor(service) is not { } query) return null;
        var entries = await SearchAsync(query, key, [.. query.Attributes], ct);
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
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) =>
        ValueTask.FromException<IReadOnlyList<string>>(new TableTempFailException(_name, "ldap tables cannot list their entries (no fetch in table-ldap)"));

    LdapQuery? QueryFor(TableService service) =>
        _config.Queries.TryGetValue(TableServiceNames.Of(service), out var q) ? q : null;

    static IEnumerable<string> Values(SearchResultEntry entry, string attribute)
    {
        foreach (DirectoryAttribute a in entry.Attributes.Values)
            if (string.Equals(a.Name, attribute, StringComparison.OrdinalIgnoreCase))
                return a.GetValues(typeof(string)).Cast<string>();
        return [];
    }

    async Task<List<SearchResultEntry>> SearchAsync(LdapQuery query, string key, string[] attributes, CancellationToken ct)
    {
        string filter = query.FilterFor(key.ToLowerInvariant(), _name);
        // One deadline for the whole lookup, turns and retry included: lookups queued behind a
        // hung server end with it instead of one after the other.
        using var lookup = CancellationTokenSource.CreateLinkedTokenSource(ct);
        lookup.CancelAfter(LookupDeadline);
        for (int attempt = 1; ; attempt++)
        {
            var connection = _connection;
            bool reused = connection is not null;
            try
            {
                connection ??= await ConnectedAsync(lookup.Token);
                return await SearchWithDeadlineAsync(connection, new SearchRequest(_config.BaseDn, filter, SearchScope.Subtree, attributes), lookup.Token, ct);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // Waiting for the connection or for a turn on it: other lookups hold them.
                throw new TableTempFailException(_name, $"{_config.Url}: no answer within {LookupDeadline.TotalSeconds:0} s");
            }
            catch (Exception ex) when (ex is DirectoryException or InvalidOperationException or TimeoutException)
            {
                // Never go on with a connection that failed: libldap would quietly reopen it
                // without our bind, and an anonymous search may see nothing (a false 550).
                bool timedOut = ex is TimeoutException or LdapException { ErrorCode: LdapTimeout or LibLdapTimeout };
                // After our own deadline libldap may still hold the connection: it is closed once the
                // search returns (SearchWithDeadlineAsync); any other is closed now.
                if (connection is not null && ex is not TimeoutException) Drop(connection);
                // A kept connection may have died while idle (the server restarted): one fresh
                // try; not after a timeout, when the server is there but does not answer
                // (ours, or libldap's own when it holds: the Native AOT build sees that one).
                if (reused && attempt == 1 && !timedOut) continue;
                throw new TableTempFailException(_name, $"{_config.Url}: {ex.Message}");
            }
        }
    }

    /// <summary>The kept connection, or a new one (one lookup connects; the others wait for it, without a thread).</summary>
    async Task<LdapConnection> ConnectedAsync(CancellationToken ct)
    {
        await _connecting.WaitAsync(ct);
        try
        {
            if (_connection is { } kept) return kept;
            var connect = OnOwnThread(Connect);
            try { return _connection = await connect.WaitAsync(RequestTimeout + TimeSpan.FromSeconds(1), ct); }
            catch (TimeoutException)
            {
                // libldap's bind did not hold its timeout: the connection is closed once it returns.
                _ = DisposeWhenConnectedAsync(connect);
                throw new TimeoutException($"no answer to bind within {RequestTimeout.TotalSeconds:0} s");
            }
            catch (OperationCanceledException)
            {
                _ = DisposeWhenConnectedAsync(connect);
                throw;
            }
        }
        finally { _connecting.Release(); }
    }

    static async Task DisposeWhenConnectedAsync(Task<LdapConnection> connect)
    {
        try { (await connect).Dispose(); }
        catch (Exception ex) when (ex is DirectoryException or InvalidOperationException) { }
    }

    /// <summary>Forgets a connection that failed, and closes it.</summary>
    void Drop(LdapConnection connection)
    {
        Interlocked.CompareExchange(ref _connection, null, connection);
        connection.Dispose();
    }

    /// <summary>Blocking libldap work on a thread of its own (not the pool's, which sessions need).</summary>
    static Task<T> OnOwnThread<T>(Func<T> work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>
    /// The search, given <see cref="RequestTimeout"/> and a second, counting the wait for a turn:
    /// on Linux, SendRequest's own timeout does not hold when the server has stopped answering
    /// (tested with a stopped slapd). A search past its deadline keeps its connection and its
    /// turn until libldap lets go of it; the connection is then disposed.
    /// </summary>
    async Task<List<SearchResultEntry>> SearchWithDeadlineAsync(LdapConnection connection, SearchRequest request, CancellationToken lookup, CancellationToken caller)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(lookup);
        deadline.CancelAfter(RequestTimeout + TimeSpan.FromSeconds(1));
        await _searchTurn.WaitAsync(deadline.Token);
        var search = OnOwnThread(() => (SearchResponse)connection.SendRequest(request, RequestTimeout));
        _ = search.ContinueWith(_ => _searchTurn.Release(), TaskScheduler.Default);
        try { return (await search.WaitAsync(deadline.Token)).Entries.Cast<SearchResultEntry>().ToList(); }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested)
        {
            Interlocked.CompareExchange(ref _connection, null, connection);
            _ = search.ContinueWith(_ => connection.Dispose(), TaskScheduler.Default);
            throw new TimeoutException($"no answer within {RequestTimeout.TotalSeconds:0} s");
        }
    }

    public void Dispose() => _connection?.Dispose();

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
