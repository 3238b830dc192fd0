namespace Smtpd.Table;

/// <summary>
/// A declared table whose backend <c>smtpctl update table</c> may replace. Each lookup runs on
/// the backend that was current when it began; a replaced backend is disposed (its proc
/// process ended, its db file closed) once the last lookup on it has returned.
/// </summary>
public sealed class ReloadableTable(ITableBackend first) : ITableBackend
{
    sealed class Generation(ITableBackend backend)
    {
        public ITableBackend Backend { get; } = backend;
        public int Users;
        public bool Retired;
    }

    readonly object _lock = new();
    Generation _current = new(first);

    public string Name { get { lock (_lock) return _current.Backend.Name; } }

    public async ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default)
    {
        var g = Enter();
        try { return await g.Backend.CheckAsync(service, key, ct); }
        finally { Leave(g); }
    }

    public async ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default)
    {
        var g = Enter();
        try { return await g.Backend.LookupAsync(service, key, ct); }
        finally { Leave(g); }
    }

    public async ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default)
    {
        var g = Enter();
        try { return await g.Backend.FetchAsync(service, ct); }
        finally { Leave(g); }
    }

    /// <summary>From now on lookups go to <paramref name="next"/>; the old backend goes when it is idle.</summary>
    public void Replace(ITableBackend next)
    {
        Generation old;
        lock (_lock)
        {
            old = _current;
            _current = new Generation(next);
            old.Retired = true;
            if (old.Users > 0) return;
        }
        (old.Backend as IDisposable)?.Dispose();
    }

    /// <summary>A reload replaced the whole configuration: the backend goes once its last lookup has returned.</summary>
    public void Retire()
    {
        Generation old;
        lock (_lock)
        {
            old = _current;
            if (old.Retired) return;
            old.Retired = true;
            if (old.Users > 0) return;
        }
        (old.Backend as IDisposable)?.Dispose();
    }

    Generation Enter()
    {
        lock (_lock) { _current.Users++; return _current; }
    }

    void Leave(Generation g)
    {
        bool last;
        lock (_lock) last = --g.Users == 0 && g.Retired;
        if (last) (g.Backend as IDisposable)?.Dispose();
    }
}
