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

    public bool Check(TableService service, string key) => Use(b => b.Check(service, key));
    public string? Lookup(TableService service, string key) => Use(b => b.Lookup(service, key));
    public IReadOnlyList<string> Fetch(TableService service) => Use(b => b.Fetch(service));

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

    T Use<T>(Func<ITableBackend, T> lookup)
    {
        Generation g;
        lock (_lock) { g = _current; g.Users++; }
        try { return lookup(g.Backend); }
        finally
        {
            bool last;
            lock (_lock) last = --g.Users == 0 && g.Retired;
            if (last) (g.Backend as IDisposable)?.Dispose();
        }
    }
}
