using Microsoft.Data.Sqlite;

namespace Smtpd.Table;

/// <summary>
/// <c>sqlite:/etc/mail/sqlite.conf</c>, in the format of opensmtpd-extras' table-sqlite: a
/// <c>dbpath</c> line and one <c>query_SERVICE</c> (and <c>fetch_SERVICE</c>) SQL statement per
/// line, with <c>?</c> for the key. Several rows are joined with commas (aliases); several
/// columns with colons (credentials "user:password", userinfo "uid:gid:home"). A database that
/// cannot be opened or queried is a temporary failure.
/// </summary>
public sealed class SqliteTable : ITableBackend
{
    readonly string _name;
    readonly string _connection;
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
        // No pooling: a database that goes away must fail the next lookup, not be served from an open handle.
        _connection = new SqliteConnectionStringBuilder { DataSource = dbpath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
    }

    public string Name => _name;

    public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) => new(Check(service, key));
    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(service, key));
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) => new(Fetch(service));

    bool Check(TableService service, string key) => Lookup(service, key) is not null;

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

    List<string> Query(string sql, string? key)
    {
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
