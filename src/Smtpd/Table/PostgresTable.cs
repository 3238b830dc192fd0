using Npgsql;

namespace Smtpd.Table;

/// <summary>
/// <c>postgres:/path/postgres.conf</c>, in the format of opensmtpd-extras' table-postgres: a
/// <c>conninfo</c> line (libpq keywords) and one <c>query_SERVICE</c> / <c>fetch_SERVICE</c>
/// statement per line with <c>$1</c> for the key (Npgsql). Rows joined with commas, columns
/// with colons, as the sqlite table. A server that cannot be reached is a temporary failure.
/// Lookups go through Npgsql's asynchronous API on pooled connections: no thread waits on the
/// server, and a lookup does not pay for a new connection (and its authentication) each time.
/// </summary>
public sealed class PostgresTable : ITableBackend, IDisposable
{
    /// <summary>Connecting (5 s) and the query (10 s), with room for Npgsql to give up on a silent server.</summary>
    static readonly TimeSpan LookupDeadline = TimeSpan.FromSeconds(20);
    readonly string _name;
    readonly NpgsqlDataSource _source;
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
        var builder = new NpgsqlConnectionStringBuilder { Timeout = 5, CommandTimeout = 10, Pooling = true, MaxPoolSize = 20 };
        foreach (string pair in conninfo.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new TableTempFailException(name, $"{configPath}: bad conninfo item '{pair}'");
            string key = pair[..eq] switch { "dbname" => "Database", "user" => "Username", "sslmode" => "SSL Mode", var k => k };
            try { builder[key] = pair[(eq + 1)..]; }
            catch (ArgumentException) { throw new TableTempFailException(name, $"{configPath}: unknown conninfo keyword '{pair[..eq]}'"); }
        }
        _source = NpgsqlDataSource.Create(builder);
    }

    public string Name => _name;

    public async ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) =>
        await LookupAsync(service, key, ct) is not null;

    public async ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default)
    {
        if (!_queries.TryGetValue("query_" + TableServiceNames.Of(service), out var sql)) return null;
        var rows = await QueryAsync(sql, key, ct);
        return rows.Count == 0 ? null : string.Join(", ", rows);
    }

    public async ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) =>
        _queries.TryGetValue("fetch_" + TableServiceNames.Of(service), out var sql) ? await QueryAsync(sql, null, ct) : [];

    async Task<List<string>> QueryAsync(string sql, string? key, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(LookupDeadline);
        for (int attempt = 1; ; attempt++)
        {
            try { return await TryQueryAsync(sql, key, deadline.Token); }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException or OperationCanceledException)
            {
                if (ex is OperationCanceledException && ct.IsCancellationRequested) throw;
                // A pooled connection may have died while idle (the server restarted): drop the
                // pool and try once on a new connection; not after a timeout or an SQL error.
                bool broken = ex is NpgsqlException { InnerException: IOException or System.Net.Sockets.SocketException } && ex is not PostgresException;
                if (ex is not PostgresException) _source.Clear();
                if (broken && attempt == 1) continue;
                throw new TableTempFailException(_name, ex is OperationCanceledException ? "no answer in time" : ex.Message);
            }
        }
    }

    async Task<List<string>> TryQueryAsync(string sql, string? key, CancellationToken ct)
    {
        await using var db = await _source.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, db);
        if (key is not null) cmd.Parameters.Add(new NpgsqlParameter { Value = key });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<string>();
        while (await reader.ReadAsync(ct))
            rows.Add(string.Join(':', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        return rows;
    }

    public void Dispose() => _source.Dispose();
}
