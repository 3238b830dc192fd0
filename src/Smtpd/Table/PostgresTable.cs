using Npgsql;

namespace Smtpd.Table;

/// <summary>
/// <c>postgres:/path/postgres.conf</c>, in the format of opensmtpd-extras' table-postgres: a
/// <c>conninfo</c> line (libpq keywords) and one <c>query_SERVICE</c> / <c>fetch_SERVICE</c>
/// statement per line with <c>$1</c> for the key (Npgsql). Rows joined with commas, columns
/// with colons, as the sqlite table. A server that cannot be reached is a temporary failure.
/// </summary>
public sealed class PostgresTable : ITableBackend
{
    readonly string _name;
    readonly string _connection;
    readonly Dictionary<string, string> _queries = new(StringComparer.Ordinal);

    public PostgresTable(string name, string configPath)
    {
        _name = name;
        string? conninfo = null;
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
            if (key == "conninfo") conninfo = value;
            else if (key.StartsWith("query_", StringComparison.Ordinal) || key.StartsWith("fetch_", StringComparison.Ordinal)) _queries[key] = value;
        }
        if (conninfo is null) throw new TableTempFailException(name, $"{configPath}: no conninfo");
        // libpq's "key=value key=value" in Npgsql's words.
        var builder = new NpgsqlConnectionStringBuilder { Timeout = 5, CommandTimeout = 10, Pooling = false };
        foreach (string pair in conninfo.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new TableTempFailException(name, $"{configPath}: bad conninfo item '{pair}'");
            string key = pair[..eq] switch { "dbname" => "Database", "user" => "Username", "sslmode" => "SSL Mode", var k => k };
            try { builder[key] = pair[(eq + 1)..]; }
            catch (ArgumentException) { throw new TableTempFailException(name, $"{configPath}: unknown conninfo keyword '{pair[..eq]}'"); }
        }
        _connection = builder.ConnectionString;
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

    List<string> Query(string sql, string? key)
    {
        try
        {
            using var db = new NpgsqlConnection(_connection);
            db.Open();
            using var cmd = new NpgsqlCommand(sql, db);
            if (key is not null) cmd.Parameters.Add(new NpgsqlParameter { Value = key });
            using var reader = cmd.ExecuteReader();
            var rows = new List<string>();
            while (reader.Read())
                rows.Add(string.Join(':', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            return rows;
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException) { throw new TableTempFailException(_name, ex.Message); }
    }
}
