namespace Smtpd.Table;

/// <summary>
/// A <c>file:</c> table: read at start (and by <c>smtpctl update table</c>), served from memory.
/// The file is checked at most once a second: while it cannot be read (removed, unreadable,
/// on a disk that went away) every lookup is a temporary failure, so recipients get 451, never
/// a 5xx decided from a table we cannot see; once it is back, lookups answer again.
/// </summary>
public sealed class FileTable(string name, string path, StaticTable contents) : ITableBackend
{
    static readonly TimeSpan ProbeEvery = TimeSpan.FromSeconds(1);
    long _nextProbe;
    volatile string? _problem;

    public string Name => name;

    public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) { Ensure(); return new(contents.Check(service, key)); }
    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) { Ensure(); return new(contents.Lookup(service, key)); }
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) { Ensure(); return new(contents.Fetch(service)); }

    void Ensure()
    {
        long now = Environment.TickCount64;
        if (now >= Interlocked.Read(ref _nextProbe))
        {
            Interlocked.Exchange(ref _nextProbe, now + (long)ProbeEvery.TotalMilliseconds);
            try { using (File.OpenRead(path)) { } _problem = null; }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { _problem = ex.Message; }
        }
        if (_problem is { } problem) throw new TableTempFailException(name, $"cannot read {path}: {problem}");
    }
}
