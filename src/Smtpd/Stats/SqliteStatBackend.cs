using Microsoft.Data.Sqlite;

namespace Smtpd.Stats;

/// <summary>
/// Statistics that survive a restart: kept in memory as the ram backend does, loaded from an
/// SQLite file at start and written back every few seconds and at shutdown (writing on every
/// increment would put a disk sync in every SMTP command).
/// </summary>
public sealed class SqliteStatBackend : RamStatBackend
{
    static readonly TimeSpan FlushEvery = TimeSpan.FromSeconds(5);
    readonly string _connectionString;
    readonly Timer _timer;
    readonly object _flushLock = new();

    public SqliteStatBackend(string path)
    {
        // SQLite creates the file (and its journals, which take the file's mode) with the umask's
        // mode; statistics live in the spool, which is private.
        if (!File.Exists(path)) new FileStream(path, Queue.SpoolModes.NewFile(FileMode.CreateNew)).Dispose();
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate }.ToString();
        using (var db = Open())
        {
            Execute(db, "CREATE TABLE IF NOT EXISTS stats (key TEXT PRIMARY KEY, kind INTEGER NOT NULL, value INTEGER NOT NULL)");
            using var read = db.CreateCommand();
            read.CommandText = "SELECT key, kind, value FROM stats";
            using var rows = read.ExecuteReader();
            while (rows.Read())
            {
                var kind = (StatKind)rows.GetInt32(1);
                // Gauges (sessions open, envelopes queued) describe the process that died with them.
                if (kind == StatKind.Counter && StatKeys.IsGauge(rows.GetString(0))) continue;
                Values[rows.GetString(0)] = new StatValue(kind, rows.GetInt64(2));
            }
        }
        _timer = new Timer(_ => Flush(), null, FlushEvery, FlushEvery);
    }

    SqliteConnection Open()
    {
        var db = new SqliteConnection(_connectionString);
        db.Open();
        return db;
    }

    static void Execute(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Flush()
    {
        lock (_flushLock)
        {
            try
            {
                using var db = Open();
                using var tx = db.BeginTransaction();
                using var cmd = db.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = "INSERT INTO stats (key, kind, value) VALUES ($k, $t, $v) ON CONFLICT(key) DO UPDATE SET kind = $t, value = $v";
                var k = cmd.Parameters.Add("$k", SqliteType.Text);
                var t = cmd.Parameters.Add("$t", SqliteType.Integer);
                var v = cmd.Parameters.Add("$v", SqliteType.Integer);
                foreach (var (key, value) in Snapshot())
                {
                    (k.Value, t.Value, v.Value) = (key, (int)value.Kind, value.Value);
                    cmd.ExecuteNonQuery();
                }
                tx.Commit();
            }
            catch (SqliteException) { } // statistics never stop the server; the next flush tries again
        }
    }

    public override void Dispose()
    {
        _timer.Dispose();
        Flush();
    }
}
