namespace Smtpd.Table;

/// <summary>
/// A table behind one interface (OpenSMTPD's table_backend). Keys are compared the way the
/// service wants (domains and addresses case-insensitively). A backend that cannot answer
/// throws <see cref="TableTempFailException"/>; callers turn that into a 4xx.
/// </summary>
public interface ITableBackend
{
    string Name { get; }

    /// <summary>Does the table contain <paramref name="key"/> (list entry or map key) for this service?</summary>
    bool Check(TableService service, string key);

    /// <summary>The value for <paramref name="key"/>, or null when absent.</summary>
    string? Lookup(TableService service, string key);

    /// <summary>Every entry (OpenSMTPD's table_fetch), e.g. the source addresses of <c>relay src &lt;t&gt;</c>.</summary>
    IReadOnlyList<string> Fetch(TableService service);
}

/// <summary>A table that could not be consulted now; never a reason for a permanent failure.</summary>
public class TableTempFailException(string table, string reason)
    : Exception($"table {table}: {reason}")
{
    public string Table { get; } = table;
    /// <summary>What went wrong, without the table's name.</summary>
    public string Reason { get; } = reason;
}
