namespace Smtpd.Table;

/// <summary>
/// An external table program speaking OpenSMTPD's table protocol, version 0.1 (table_proc.c):
/// smtpd sends <c>config|…</c> lines and <c>config|ready</c>; the program registers its services
/// and <c>register|ready</c>; each request is <c>table|0.1|TIME|NAME|lookup|SERVICE|ID|KEY</c>
/// (also check, fetch, update) and the answer <c>lookup-result|ID|found|VALUE</c>, <c>not-found</c>
/// or <c>error|…</c>. Requests are pipelined (<see cref="ProcTableProcess"/>): a lookup waits
/// for its own answer only, never for another's. A program that dies, or does not answer a
/// request within 10 s, makes the lookups waiting on it fail temporarily and is started again
/// on the next one.
/// </summary>
public sealed class ProcTable(string name, string command) : ITableBackend, IDisposable
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    readonly object _lock = new();
    ProcTableProcess? _current;
    Task<ProcTableProcess>? _starting;
    bool _disposed;

    public string Name => name;

    public async ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) =>
        await AskAsync("check", service, key, ct) is not null;

    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) =>
        AskAsync("lookup", service, key, ct);

    public async ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default)
    {
        // fetch hands out one entry per call, going round: collect until the first comes back.
        var all = new List<string>();
        for (int i = 0; i < 10_000 && await AskAsync("fetch", service, null, ct) is { } v; i++)
        {
            if (all.Count > 0 && v == all[0]) break;
            all.Add(v);
        }
        return all;
    }

    async ValueTask<string?> AskAsync(string request, TableService service, string? key, CancellationToken ct)
    {
        if (key is not null && key.IndexOfAny(['\r', '\n']) >= 0) return null;
        var p = await RunningAsync();
        string svc = TableServiceNames.Of(service);
        if (!p.Services.Contains(svc)) return null;
        string line = await p.AskAsync(request, svc, key, Timeout, ct);
        // "REQUEST-result|ID|": the program answered the request it was asked, under its id.
        string r = line[(line.IndexOf('|', line.IndexOf('|') + 1) + 1)..];
        if (!line.StartsWith(request + "-result|", StringComparison.Ordinal)) throw Bad(p, line);
        if (r == "not-found") return null;
        if (r.StartsWith("error", StringComparison.Ordinal)) throw new TableTempFailException(name, r.Length > 6 ? r[6..] : "error");
        if (request == "check" && r == "found") return "";
        if (r.StartsWith("found|", StringComparison.Ordinal) && r.Length > 6) return r[6..];
        throw Bad(p, line);
    }

    TableTempFailException Bad(ProcTableProcess p, string line)
    {
        p.Stop($"bad reply: {line}");
        return new TableTempFailException(name, $"bad reply: {line}");
    }

    /// <summary>The running program, started (once, however many lookups ask at the same time) when there is none.</summary>
    async ValueTask<ProcTableProcess> RunningAsync()
    {
        Task<ProcTableProcess> starting;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_current is { Gone: null } running) return running;
            _current?.Dispose();
            _current = null;
            // Started on the pool: the lock only chooses who starts, it is not held while the program starts.
            if (_starting is null || _starting.IsCompleted) _starting = Task.Run(StartAsync);
            starting = _starting;
        }
        return await starting;
    }

    async Task<ProcTableProcess> StartAsync()
    {
        var started = await ProcTableProcess.StartAsync(name, command, Timeout);
        lock (_lock)
        {
            if (!_disposed) return _current = started;
        }
        started.Dispose();
        throw new TableTempFailException(name, "table closed");
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _current?.Dispose();
            _current = null;
        }
    }
}
