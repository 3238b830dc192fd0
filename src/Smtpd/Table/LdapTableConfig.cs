namespace Smtpd.Table;

/// <summary>
/// The configuration file of opensmtpd-extras' table-ldap (table-ldap(5)): one <c>key: value</c>
/// (or <c>key value</c>) per line, <c>#</c> comments. <c>url</c>, <c>username</c> (bind DN),
/// <c>password</c>, <c>basedn</c>, and per service <c>SERVICE_filter</c> with
/// <c>SERVICE_attributes</c> (comma-separated; credentials want 2, userinfo 3, the others 1).
/// Unlike table-ldap, which warns and goes on, anything it would ignore is an error here, with
/// the file's line, so that <c>smtpd -n</c> can say where.
/// </summary>
public sealed record LdapTableConfig(Uri Url, string? BindDn, string? Password, string BaseDn, IReadOnlyDictionary<string, LdapQuery> Queries)
{
    /// <summary>Services table-ldap knows, with the number of attributes each needs.</summary>
    static readonly Dictionary<string, int> Services = new(StringComparer.Ordinal)
    {
        ["alias"] = 1, ["domain"] = 1, ["credentials"] = 2, ["netaddr"] = 1,
        ["userinfo"] = 3, ["mailaddr"] = 1, ["mailaddrmap"] = 1,
    };

    /// <exception cref="TableTempFailException">The file cannot be read, or says something we cannot do.</exception>
    public static LdapTableConfig Read(string table, string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { throw new TableTempFailException(table, $"cannot read {path}: {ex.Message}"); }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        Exception Bad(int line, string message) => new TableTempFailException(table, $"{path}:{line}: {message}");
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            // As table-ldap: the key ends at a blank or a colon; blanks and ": " before the value are skipped.
            int end = line.IndexOfAny([' ', '\t', ':']);
            string key = end < 0 ? line : line[..end];
            string value = end < 0 ? "" : line[(end + 1)..].TrimStart();
            if (value.StartsWith(':') && (value.Length == 1 || char.IsWhiteSpace(value[1]))) value = value[1..].TrimStart();
            if (value.Length == 0) throw Bad(i + 1, $"missing value for {key}");
            if (!IsKnownKey(key)) throw Bad(i + 1, key == "ca_file" ? "ca_file is not supported (ldaps:// uses the system's CA store)" : $"unknown key '{key}'");
            if (lineOf.TryGetValue(key, out int first)) throw Bad(i + 1, $"duplicate {key} (first at line {first})");
            values[key] = value;
            lineOf[key] = i + 1;
        }

        if (!values.TryGetValue("url", out var url)) throw new TableTempFailException(table, $"{path}: no url");
        if (!values.TryGetValue("basedn", out var basedn)) throw new TableTempFailException(table, $"{path}: no basedn");
        Uri uri = ParseUrl(url) ?? throw Bad(lineOf["url"], $"bad url '{url}' (ldap://host[:port] or ldaps://host[:port])");

        var queries = new Dictionary<string, LdapQuery>(StringComparer.Ordinal);
        foreach (var (service, count) in Services)
        {
            bool hasFilter = values.TryGetValue(service + "_filter", out var filter);
            bool hasAttributes = values.TryGetValue(service + "_attributes", out var attributes);
            if (!hasFilter && !hasAttributes) continue;
            if (!hasFilter) throw Bad(lineOf[service + "_attributes"], $"{service}_attributes without {service}_filter");
            if (!hasAttributes) throw Bad(lineOf[service + "_filter"], $"{service}_filter without {service}_attributes");
            string[] names = attributes!.Split(',', StringSplitOptions.TrimEntries);
            if (names.Length != count || names.Any(n => n.Length == 0))
                throw Bad(lineOf[service + "_attributes"], $"{service}_attributes needs {count} attribute{(count > 1 ? "s" : "")}, comma-separated");
            if (LdapQuery.CheckFilter(filter!) is { } problem) throw Bad(lineOf[service + "_filter"], problem);
            queries[service] = new LdapQuery(filter!, names);
        }
        if (queries.Count == 0) throw new TableTempFailException(table, $"{path}: no service (SERVICE_filter and SERVICE_attributes)");
        values.TryGetValue("username", out var username);
        values.TryGetValue("password", out var password);
        return new LdapTableConfig(uri, username, password, basedn, queries);
    }

    static bool IsKnownKey(string key) => key is "url" or "username" or "password" or "basedn"
        || (key.EndsWith("_filter", StringComparison.Ordinal) && Services.ContainsKey(key[..^"_filter".Length]))
        || (key.EndsWith("_attributes", StringComparison.Ordinal) && Services.ContainsKey(key[..^"_attributes".Length]));

    /// <summary><c>ldap://host[:port]</c>, <c>ldaps://host[:port]</c>, or a bare host (table-ldap(5)'s example).</summary>
    static Uri? ParseUrl(string url)
    {
        if (!url.Contains("://", StringComparison.Ordinal)) url = "ldap://" + url;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("ldap" or "ldaps") || uri.Host.Length == 0) return null;
        if (uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0) return null;
        return uri;
    }
}
