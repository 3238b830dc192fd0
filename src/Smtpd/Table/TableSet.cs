using Smtpd.Config;

namespace Smtpd.Table;

/// <summary>The tables a ruleset declares, opened and ready for lookups by name.</summary>
public sealed class TableSet
{
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, ReloadableTable> _tables = new(StringComparer.Ordinal);
    readonly Ruleset _ruleset;

    readonly Chaos.ChaosMonkey? _chaos;

    public TableSet(Ruleset ruleset, Chaos.ChaosMonkey? chaos = null)
    {
        _ruleset = ruleset;
        _chaos = chaos;
        foreach (var (name, config) in ruleset.Tables)
            _tables[name] = new ReloadableTable(Open(config));
    }

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

    public ITableBackend this[string name] =>
        _tables.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"no table {name}");

    ITableBackend Open(TableConfig config) =>
        _chaos is null ? OpenBackend(config) : new Chaos.ChaosTable(OpenBackend(config), _chaos);

    static ITableBackend OpenBackend(TableConfig config) => config.Backend switch
    {
        TableBackendKind.Static => new StaticTable(config.Name, config.List, config.Map),
        TableBackendKind.File => new FileTable(config.Name, config.Path!, FileTableReader.Read(config.Name, config.Path!)),
        TableBackendKind.Sqlite => new SqliteTable(config.Name, config.Path!),
        TableBackendKind.Db => new DbTable(config.Name, config.Path!),
        TableBackendKind.Postgres => new PostgresTable(config.Name, config.Path!),
        TableBackendKind.Ldap => new LdapTable(config.Name, config.Path!),
        TableBackendKind.Proc => new ProcTable(config.Name, config.Path!),
        _ => new UnavailableTable(config.Name, $"{config.Backend} tables are not supported yet"),
    };

    /// <summary>Stands for a backend we cannot open: every lookup is a temporary failure.</summary>
    sealed class UnavailableTable(string name, string reason) : ITableBackend
    {
        public string Name => name;
        public bool Check(TableService service, string key) => throw new TableTempFailException(name, reason);
        public string? Lookup(TableService service, string key) => throw new TableTempFailException(name, reason);
        public IReadOnlyList<string> Fetch(TableService service) => throw new TableTempFailException(name, reason);
    }
}
