using Microsoft.Data.Sqlite;

namespace Smtpd.Admin;

/// <summary>
/// With <c>-B stat=sqlite</c>, the admin page's samples are kept in the statistics' SQLite file
/// (its own table), so the graphs keep the hours before a restart. Only the last
/// <see cref="StatsHistory.Capacity"/> samples are kept.
/// </summary>
public sealed class SqliteStatsHistoryStore
{
    readonly string _connectionString;

    /// <param name="path">The stat backend's file (SPOOL/stats.sqlite), created by it.</param>
    public SqliteStatsHistoryStore(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate }.ToString();
        using var db = Open();
        using var create = db.CreateCommand();
        create.CommandText = "CREATE TABLE IF NOT EXISTS admin_history (at INTEGER NOT NULL, received INTEGER NOT NULL, ok INTEGER NOT NULL, tempfail INTEGER NOT NULL, permfail INTEGER NOT NULL, queue INTEGER NOT NULL)";
        create.ExecuteNonQuery();
    }

    SqliteConnection Open()
    {
        var db = new SqliteConnection(_connectionString);
        db.Open();
        return db;
    }

    /// <summary>The samples kept, oldest first.</summary>
    public IReadOnlyList<StatsSample> Load()
    {
        using var db = Open();
        using var read = db.CreateCommand();
        read.CommandText = $"SELECT at, received, ok, tempfail, permfail, queue FROM (SELECT rowid, * FROM admin_history ORDER BY rowid DESC LIMIT {StatsHistory.Capacity}) ORDER BY rowid";
        using var rows = read.ExecuteReader();
        var samples = new List<StatsSample>();
        while (rows.Read())
            samples.Add(new StatsSample(DateTimeOffset.FromUnixTimeSeconds(rows.GetInt64(0)), rows.GetInt64(1), rows.GetInt64(2), rows.GetInt64(3), rows.GetInt64(4), rows.GetInt64(5)));
        return samples;
    }

    public void Append(StatsSample s)
    {
        try
        {
            using var db = Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "INSERT INTO admin_history VALUES ($at, $r, $ok, $t, $p, $q); " +
                $"DELETE FROM admin_history WHERE rowid <= (SELECT MAX(rowid) FROM admin_history) - {StatsHistory.Capacity}";
            cmd.Parameters.AddWithValue("$at", s.At.ToUnixTimeSeconds());
            cmd.Parameters.AddWithValue("$r", s.Received);
            cmd.Parameters.AddWithValue("$ok", s.Ok);
            cmd.Parameters.AddWithValue("$t", s.TempFail);
            cmd.Parameters.AddWithValue("$p", s.PermFail);
            cmd.Parameters.AddWithValue("$q", s.Queue);
            cmd.ExecuteNonQuery();
        }
        catch (SqliteException) { } // the graphs never stop the server; the ring in memory still has the sample
    }
}
