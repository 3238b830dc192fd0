namespace Smtpd.Table;

/// <summary>
/// A <c>db:</c> table: a Berkeley DB hash file as OpenSMTPD's makemap writes it (and ours).
/// Keys are tried as given, then in lowercase. A file that cannot be read is a temporary failure.
/// </summary>
public sealed class DbTable : ITableBackend, IDisposable
{
    readonly string _name, _path;
    readonly object _lock = new();
    Db185? _db;

    public DbTable(string name, string path)
    {
        _name = name;
        _path = path;
        try { _db = Db185.OpenRead(path); }
        catch (IOException ex) { throw new TableTempFailException(name, ex.Message); }
    }

    public string Name => _name;

    // A local file read through the page cache: answered at once, like the tables held in memory.
    public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(key) is not null);
    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(key));
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) => new(Fetch());

    string? Lookup(string key)
    {
        lock (_lock)
        {
            var db = Open();
            try { return db.Get(key) ?? (key != key.ToLowerInvariant() ? db.Get(key.ToLowerInvariant()) : null); }
            catch (IOException ex) { Close(); throw new TableTempFailException(_name, ex.Message); }
        }
    }

    IReadOnlyList<string> Fetch()
    {
        lock (_lock)
        {
            try { return Open().All().Select(kv => kv.Key).ToList(); }
            catch (IOException ex) { Close(); throw new TableTempFailException(_name, ex.Message); }
        }
    }

    /// <summary>Every entry, for checking against the table's uses; an empty value is a list entry.</summary>
    public TableContents Contents()
    {
        lock (_lock)
        {
            try
            {
                var all = Open().All();
                return new TableContents([.. all.Select(kv => new TableEntry(kv.Key, kv.Value.Length == 0 ? null : kv.Value, 0))],
                    IsList: all.All(kv => kv.Value.Length == 0));
            }
            catch (IOException ex) { Close(); throw new TableTempFailException(_name, ex.Message); }
        }
    }

    Db185 Open()
    {
        if (_db is not null) return _db;
        try { return _db = Db185.OpenRead(_path); }
        catch (IOException ex) { throw new TableTempFailException(_name, ex.Message); }
    }

    void Close() { _db?.Dispose(); _db = null; }

    public void Dispose() { lock (_lock) Close(); }
}
