using Smtpd.Config;

namespace Smtpd.Table;

/// <summary>The tables a ruleset declares, opened and ready for lookups by name.</summary>
public sealed class TableSet
{
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, ReloadableTable> _tables = new(StringComparer.Ordinal);
    readonly Ruleset _ruleset;
    readonly IReadOnlyDictionary<string, IReadOnlySet<TableUse>> _uses;

    readonly Chaos.ChaosMonkey? _chaos;

    public TableSet(Ruleset ruleset, Chaos.ChaosMonkey? chaos = null)
    {
        _ruleset = ruleset;
        _chaos = chaos;
        _uses = TableUses.Of(ruleset);
        foreach (var (name, config) in ruleset.Tables)
            _tables[name] = new ReloadableTable(Open(config));
    }

    /// <summary>
    /// Opens every table once and closes it again, for <c>smtpd -n</c> and the start: what is
    /// wrong with each, so that one run names every bad table and line.
    /// </summary>
    public static IReadOnlyList<(TableConfig Table, TableTempFailException Error)> Verify(Ruleset ruleset)
    {
        var uses = TableUses.Of(ruleset);
        var failures = new List<(TableConfig, TableTempFailException)>();
        foreach (var config in ruleset.Tables.Values.OrderBy(t => t.Location.Line))
        {
            try { (OpenBackend(config, uses.TryGetValue(config.Name, out var u) ? u : NoUses) as IDisposable)?.Dispose(); }
            catch (TableTempFailException ex) { failures.Add((config, ex)); }
        }
        return failures;
    }

    static readonly IReadOnlySet<TableUse> NoUses = new HashSet<TableUse>();

    /// <summary>
    /// Reads a table again (<c>smtpctl update table NAME</c>): lookups already under way finish
    /// with the old contents, the next ones see the new, and the old backend is disposed once
    /// they are done. If the new contents cannot be read, the old stay and the error is thrown.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such table.</exception>
    /// <exception cref="TableTempFailException">The table cannot be read now.</exception>
    public void Reload(string name)
    {
        if (!_ruleset.Tables.TryGetValue(name, out var config)) throw new KeyNotFoundException($"no table {name}");
        var fresh = Open(config);
        if (_tables.TryGetValue(name, out var table)) table.Replace(fresh);
        else _tables[name] = new ReloadableTable(fresh);
    }

    /// <summary>
    /// A reload replaced this configuration and nothing will look anything up here any more:
    /// each backend is closed (proc process ended, connections released) after its last lookup.
    /// </summary>
    public void Retire()
    {
        foreach (var table in _tables.Values) table.Retire();
    }

    public ITableBackend this[string name] =>
        _tables.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"no table {name}");

    ITableBackend Open(TableConfig config)
    {
        var backend = OpenBackend(config, _uses.TryGetValue(config.Name, out var uses) ? uses : NoUses);
        return _chaos is null ? backend : new Chaos.ChaosTable(backend, _chaos);
    }

    /// <summary>
    /// Opens a table. Those read whole (inline, file, db) are checked against their uses here,
    /// so a bad entry is an error when the table is read (at start, <c>smtpd -n</c>, <c>update
    /// table</c>); the others are checked value by value as lookups return them.
    /// </summary>
    static ITableBackend OpenBackend(TableConfig config, IReadOnlySet<TableUse> uses)
    {
        switch (config.Backend)
        {
            case TableBackendKind.Static:
                // An anonymous table is a literal in a rule; the rule's line says where it is.
                string origin = config.Name.StartsWith("anonymous:", StringComparison.Ordinal) ? "" : $"table <{config.Name}>";
                Check(config, StaticTable.ContentsOf(config), origin, uses);
                return new StaticTable(config.Name, config.List, config.Map);
            case TableBackendKind.File:
                var contents = FileTableReader.Read(config.Name, config.Path!);
                Check(config, contents, config.Path!, uses);
                return new FileTable(config.Name, config.Path!, StaticTable.From(config.Name, contents));
            case TableBackendKind.Db:
                var db = new DbTable(config.Name, config.Path!);
                try { if (uses.Count > 0) Check(config, db.Contents(), config.Path!, uses); }
                catch { db.Dispose(); throw; }
                return db;
            case TableBackendKind.Sqlite: return new SqliteTable(config.Name, config.Path!);
            case TableBackendKind.Postgres: return new PostgresTable(config.Name, config.Path!);
            case TableBackendKind.Ldap: return new LdapTable(config.Name, config.Path!);
            case TableBackendKind.Proc: return new ProcTable(config.Name, config.Path!);
            default: return new UnavailableTable(config.Name, $"{config.Backend} tables are not supported yet");
        }
    }

    static void Check(TableConfig config, TableContents contents, string origin, IReadOnlySet<TableUse> uses)
    {
        if (uses.Count == 0) return;
        var problems = contents.Problems(origin, uses);
        if (problems.Count > 0) throw new TableContentException(config.Name, problems);
    }

    /// <summary>Stands for a backend we cannot open: every lookup is a temporary failure.</summary>
    sealed class UnavailableTable(string name, string reason) : ITableBackend
    {
        public string Name => name;
        public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) => ValueTask.FromException<bool>(Failure);
        public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) => ValueTask.FromException<string?>(Failure);
        public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) => ValueTask.FromException<IReadOnlyList<string>>(Failure);
        TableTempFailException Failure => new(name, reason);
    }
}
