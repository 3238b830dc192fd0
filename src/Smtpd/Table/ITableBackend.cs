namespace Smtpd.Table;

/// <summary>
/// A table behind one interface (OpenSMTPD's table_backend). Keys are compared the way the
/// service wants (domains and addresses case-insensitively). A backend that cannot answer
/// throws <see cref="TableTempFailException"/>; callers turn that into a 4xx.
/// Lookups are asynchronous so that no session or thread waits on a table: tables held in
/// memory (inline, file, db) complete synchronously; those behind a server or a program
/// (sqlite, postgres, ldap, proc) complete when the answer comes.
/// </summary>
public interface ITableBackend
{
    string Name { get; }

    /// <summary>Does the table contain <paramref name="key"/> (list entry or map key) for this service?</summary>
    ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default);

    /// <summary>The value for <paramref name="key"/>, or null when absent.</summary>
    ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default);

    /// <summary>Every entry (OpenSMTPD's table_fetch), e.g. the source addresses of <c>relay src &lt;t&gt;</c>.</summary>
    ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default);
}

/// <summary>A table that could not be consulted now; never a reason for a permanent failure.</summary>
public class TableTempFailException(string table, string reason)
    : Exception($"table {table}: {reason}")
{
    public string Table { get; } = table;
    /// <summary>What went wrong, without the table's name.</summary>
    public string Reason { get; } = reason;
}
