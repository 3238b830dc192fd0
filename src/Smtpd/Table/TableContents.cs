namespace Smtpd.Table;

/// <summary>One entry of a table that is read whole: a list entry (no value) or a map entry.</summary>
/// <param name="Line">Its line in the file, or 0 where there are no lines (inline tables, db files).</param>
public readonly record struct TableEntry(string Key, string? Value, int Line);

/// <summary>
/// The entries of a table read whole (inline, <c>file:</c>, <c>db:</c>), checked against the
/// uses the configuration makes of it, so that a bad line is reported when the table is read,
/// at <c>file:line</c>, instead of failing lookups later.
/// </summary>
public sealed record TableContents(IReadOnlyList<TableEntry> Entries, bool IsList)
{
    const int MostReported = 20;

    /// <summary>Every problem, as "where: what", where being <c>origin:line</c> or <c>origin</c>
    /// (the file), or nothing when <paramref name="origin"/> is empty (an inline table).</summary>
    public IReadOnlyList<string> Problems(string origin, IReadOnlySet<TableUse> uses)
    {
        var problems = new List<string>();
        foreach (var use in uses.Order())
        {
            var keyRule = KeyRule(use);
            var valueRule = ValueRule(use);
            if (valueRule is not null && IsList && Entries.Count > 0)
            {
                problems.Add($"{Where(origin, 0)}{Service(use)} needs \"key value\" lines, and this table is a list");
                continue;
            }
            foreach (var entry in Entries)
            {
                string at = Where(origin, entry.Line);
                if (keyRule?.Invoke(entry.Key) is { } keyWhy)
                    problems.Add($"{at}bad {Service(use)} {(entry.Value is null ? "entry" : "key")} \"{entry.Key}\": {keyWhy}");
                else if (entry.Value is { } value && valueRule?.Invoke(value) is { } valueWhy)
                    problems.Add($"{at}bad {Service(use)} value for \"{entry.Key}\": {valueWhy}");
            }
        }
        var distinct = problems.Distinct().ToList();
        if (distinct.Count <= MostReported) return distinct;
        return [.. distinct.Take(MostReported), $"{Where(origin, 0)}… and {distinct.Count - MostReported} more"];
    }

    /// <summary>"path:line: ", "path: ", or nothing for an inline table (the config line says where).</summary>
    static string Where(string origin, int line) =>
        origin.Length == 0 ? "" : line > 0 ? $"{origin}:{line}: " : $"{origin}: ";

    static Func<string, string?>? KeyRule(TableUse use) => use switch
    {
        TableUse.Domains or TableUse.TlsPolicies => TableValues.DomainProblem,
        TableUse.Networks => TableValues.NetworkProblem,
        TableUse.MailAddrs => TableValues.MailAddrProblem,
        TableUse.Patterns => TableValues.RegexProblem,
        TableUse.Virtuals => TableValues.VirtualKeyProblem,
        TableUse.Sources or TableUse.AddrNames => TableValues.AddressProblem,
        _ => null,
    };

    static Func<string, string?>? ValueRule(TableUse use) => use switch
    {
        TableUse.Aliases or TableUse.Virtuals => TableValues.AliasProblem,
        TableUse.UserInfo => TableValues.UserInfoProblem,
        TableUse.PasswordHashes => TableValues.PasswordHashProblem,
        TableUse.RelaySecrets => TableValues.RelaySecretProblem,
        TableUse.AddrNames => TableValues.HostnameProblem,
        TableUse.SenderLists => TableValues.MailAddrListProblem,
        TableUse.TlsPolicies => Config.TlsPolicyChoices.Problem,
        _ => null,
    };

    /// <summary>The service's name as smtpd.conf(5) and table(5) say it.</summary>
    static string Service(TableUse use) => use switch
    {
        TableUse.Domains => "domain",
        TableUse.Networks => "netaddr",
        TableUse.MailAddrs => "mailaddr",
        TableUse.Patterns => "regex",
        TableUse.Aliases => "alias",
        TableUse.Virtuals => "virtual",
        TableUse.UserInfo => "userinfo",
        TableUse.PasswordHashes => "credentials",
        TableUse.RelaySecrets => "credentials",
        TableUse.Sources => "source",
        TableUse.AddrNames => "addrname",
        TableUse.SenderLists => "mailaddrmap",
        TableUse.TlsPolicies => "tls-policy",
        _ => use.ToString(),
    };
}

/// <summary>A table whose contents do not suit its uses; each problem names file:line where it can.</summary>
public sealed class TableContentException(string table, IReadOnlyList<string> problems)
    : TableTempFailException(table, string.Join("; ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
