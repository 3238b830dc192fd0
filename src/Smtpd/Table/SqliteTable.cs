using Microsoft.Data.Sqlite;

namespace Smtpd.Table;

/// <summary>
/// <c>sqlite:/etc/mail/sqlite.conf</c>, in the format of opensmtpd-extras' table-sqlite: a
/// <c>dbpath</c> line and one <c>query_SERVICE</c> (and <c>fetch_SERVICE</c>) SQL statement per
/// line, with <c>?</c> for the key. Several rows are joined with commas (aliases); several
/// columns with colons (credentials "user:password", userinfo "uid:gid:home"). A database that
/// cannot be opened or queried is a temporary failure.
/// Connections are pooled; a lookup answers at once (a local file, as a db table). Before each
/// lookup the file is looked at: once it is gone or was replaced, pooled connections (which
/// would go on reading the old file) are dropped, so a database that went away fails the next
/// lookup and a new one is read from the next lookup on.
/// </summary>
public sealed class SqliteTable : ITableBackend, IDisposable
{
    readonly string _name;
    readonly string _connection;
    readonly string _dbpath;
    readonly object _fileLock = new();
    (bool Exists, DateTime Written, long Length) _file;
    readonly Dictionary<string, string> _queries = new(StringComparer.Ordinal);

    public SqliteTable(string name, string configPath)
    {
        _name = name;
        string? dbpath = null;
        string[] lines;
        try { lines = File.ReadAllLines(configPath); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { throw new TableTempFailException(name, $"cannot read {configPath}: {ex.Message}"); }
        foreach (string raw in lines)
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int sp = line.IndexOfAny([' ', '\t']);
            if (sp < 0) continue;
            string key = line[..sp], value = line[(sp + 1)..].Trim();
            if (key == "dbpath") dbpath = value;
            else if (key.StartsWith("query_", StringComparison.Ordinal) || key.StartsWith("fetch_", StringComparison.Ordinal)) _queries[key] = value;
        }
        if (dbpath is null) throw new TableTempFailException(name, $"{configPath}: no dbpath");
        _dbpath = dbpath;
        _connection = new SqliteConnectionStringBuilder { DataSource = dbpath, Mode = SqliteOpenMode.ReadOnly, Pooling = true }.ToString();
        _file = FileNow();
    }

    public string Name => _name;

    public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(service, key) is not null);
    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(service, key));
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) => new(Fetch(service));

    string? Lookup(TableService service, string key)
    {
        if (!_queries.TryGetValue("query_" + TableServiceNames.Of(service), out var sql)) return null;
        var rows = Query(sql, key);
        return rows.Count == 0 ? null : string.Join(", ", rows);
    }

    IReadOnlyList<string> Fetch(TableService service) =>
        _queries.TryGetValue("fetch_" + TableServiceNames.Of(service), out var sql) ? Query(sql, null) : [];

    /// <summary>Turns the "?" outside quotes into "$key".</summary>
    static string NameParameters(string sql)
    {
        var sb = new System.Text.StringBuilder(sql.Length + 8);
        char quote = '\0';
        foreach (char c in sql)
        {
            if (quote != '\0') { if (c == quote) quote = '\0'; sb.Append(c); continue; }
            if (c is '\'' or '"') { quote = c; sb.Append(c); continue; }
            sb.Append(c == '?' ? "$key" : c);
        }
        return sb.ToString();
    }

    (bool, DateTime, long) FileNow()
    {
        var info = new FileInfo(_dbpath);
        return info.Exists ? (true, info.LastWriteTimeUtc, info.Length) : (false, default, 0);
    }

    /// <summary>Drops the pooled connections when the file is not the one they opened.</summary>
    void ForgetReplacedFile()
    {
        var now = FileNow();
        lock (_fileLock)
        {
            if (now == _file) return;
            _file = now;
        }
        using var any = new SqliteConnection(_connection);
        SqliteConnection.ClearPool(any);
    }

    public void Dispose()
    {
        using var any = new SqliteConnection(_connection);
        SqliteConnection.ClearPool(any);
    }

    List<string> Query(string sql, string? key)
    {
        ForgetReplacedFile();
        try
        {
            using var db = new SqliteConnection(_connection);
            db.Open();
            using var cmd = db.CreateCommand();
            // table-sqlite writes "?" for the key; Microsoft.Data.Sqlite binds by name.
            cmd.CommandText = key is null ? sql : NameParameters(sql);
            if (key is not null) cmd.Parameters.AddWithValue("$key", key);
            using var reader = cmd.ExecuteReader();
            var rows = new List<string>();
            while (reader.Read())
                rows.Add(string.Join(':', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            return rows;
        }
        catch (Exception ex) when (ex is SqliteException or InvalidOperationException) { throw new TableTempFailException(_name, ex.Message); }
    }
}
