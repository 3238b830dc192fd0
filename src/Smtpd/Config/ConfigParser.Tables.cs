namespace Smtpd.Config;

// table NAME [static] { ... } | table NAME [file:|db:]/path, and the places that name a table.
public sealed partial class ConfigParser
{
    private void ParseTable(TokenCursor c)
    {
        var keyword = c.Take();
        string name = c.ExpectValue("table");
        brokenTables.Add(name);
        TableConfig table;
        if (c.Peek().Kind == TokenKind.LeftBrace || (c.Peek().IsKeyword("static") && c.Peek(1).Kind == TokenKind.LeftBrace))
        {
            c.TryKeyword("static");
            table = ParseInlineTable(c, name, keyword.Location);
        }
        else
        {
            table = ParseTableSource(name, c.ExpectValue($"table {name}"), keyword.Location);
        }
        c.ExpectEnd($"table {name}");
        if (tables.TryGetValue(name, out var existing))
            throw new ConfigSyntaxException(keyword.Location, $"duplicate table <{name}> (first defined at {existing.Location})");
        tables.Add(name, table);
        brokenTables.Remove(name);
    }

    /// <summary><c>[type:]/path</c>: where a table's entries come from. The file is not opened here.
    /// An unknown TYPE is an external table program, table-TYPE in OpenSMTPD's PATH_LIBEXEC.</summary>
    private TableConfig ParseTableSource(string name, string source, ConfigLocation at)
    {
        var backend = TableBackendKind.File;
        string path = source;
        int colon = source.IndexOf(':');
        if (!source.StartsWith('/') && colon > 0)
        {
            string type = source[..colon];
            path = source[(colon + 1)..];
            backend = type switch
            {
                "file" or "static" => TableBackendKind.File,
                "db" => TableBackendKind.Db,
                "sqlite" => TableBackendKind.Sqlite,
                "postgres" or "postgresql" => TableBackendKind.Postgres,
                "ldap" => TableBackendKind.Ldap,
                "proc" => TableBackendKind.Proc,
                // As OpenSMTPD: another type is an external table program, table-TYPE CONFIG.
                _ when File.Exists(Path.Combine(externalTableDirectory, $"table-{type}")) => TableBackendKind.Proc,
                _ => throw new ConfigSyntaxException(at, $"table <{name}>: unknown backend '{type}' (and no {externalTableDirectory}/table-{type})"),
            };
            if (backend == TableBackendKind.Proc && type != "proc")
                return new TableConfig(name, backend, $"{Path.Combine(externalTableDirectory, $"table-{type}")} {path}", [], new Dictionary<string, string>(), at);
            if (backend == TableBackendKind.Proc)
                return new TableConfig(name, backend, path, [], new Dictionary<string, string>(), at);
        }
        if (!path.StartsWith('/'))
            throw new ConfigSyntaxException(at, $"table <{name}>: path must be absolute: '{path}'");
        return new TableConfig(name, backend, path, [], new Dictionary<string, string>(), at);
    }

    /// <summary><c>{ a, b }</c> or <c>{ k = v, k2 = v2 }</c>; commas and line breaks both separate.</summary>
    private static TableConfig ParseInlineTable(TokenCursor c, string name, ConfigLocation at)
    {
        var open = c.Take();
        var list = new List<string>();
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        while (!c.TryPunct(TokenKind.RightBrace))
        {
            var key = c.Take();
            if (key.Kind == TokenKind.End)
                throw new ConfigSyntaxException(open.Location, $"table <{name}>: missing '}}'");
            if (!key.IsWord)
                throw new ConfigSyntaxException(key.Location, $"table <{name}>: unexpected {key.Display}");
            if (c.TryPunct(TokenKind.Equals))
            {
                var value = c.Take();
                if (!value.IsWord)
                    throw new ConfigSyntaxException(value.Location, $"table <{name}>: missing value for key '{key.Text}'");
                map[key.Text] = value.Text;
            }
            else
            {
                list.Add(key.Text);
            }
            if (list.Count > 0 && map.Count > 0)
                throw new ConfigSyntaxException(key.Location, $"table <{name}> mixes values and key = value pairs");
            c.TryPunct(TokenKind.Comma);
        }
        if (list.Count == 0 && map.Count == 0)
            throw new ConfigSyntaxException(open.Location, $"table <{name}> must contain at least one value");
        return new TableConfig(name, TableBackendKind.Static, null, list, map, at);
    }

    /// <summary><c>for domain "example.org"</c>: checked as a domain table's entry would be.</summary>
    private static string DomainLiteral(Token token, bool regex)
    {
        string? why = regex ? Table.TableValues.RegexProblem(token.Text) : Table.TableValues.DomainProblem(token.Text);
        if (why is not null)
            throw new ConfigSyntaxException(token.Location, $"bad {(regex ? "regex" : "domain")} \"{token.Text}\": {why}");
        return token.Text;
    }

    private bool PeekTableRef(TokenCursor c) => c.Peek().Kind == TokenKind.LessThan;

    /// <summary><c>&lt;name&gt;</c>: a table declared earlier.</summary>
    private string ParseTableRef(TokenCursor c, string after)
    {
        var open = c.Peek();
        if (open.Kind != TokenKind.LessThan)
            throw new ConfigSyntaxException(open.Location, open.Kind == TokenKind.End
                ? $"missing table after '{after}'"
                : $"expected a table <name> after '{after}', not {open.Display}");
        c.Take();
        var name = c.Take();
        if (!name.IsWord || !c.TryPunct(TokenKind.GreaterThan))
            throw new ConfigSyntaxException(open.Location, $"malformed table reference after '{after}': expected <name>");
        if (!tables.ContainsKey(name.Text) && !brokenTables.Contains(name.Text))
            throw new ConfigSyntaxException(name.Location, $"undefined table <{name.Text}>");
        return name.Text;
    }

    /// <summary>A table reference, an inline <c>{ ... }</c> or a single value; the last two become
    /// anonymous tables, as OpenSMTPD's "tables" rule does.</summary>
    private string ParseTables(TokenCursor c, string after)
    {
        if (PeekTableRef(c))
            return ParseTableRef(c, after);
        var at = c.Peek().Location;
        if (c.Peek().Kind == TokenKind.LeftBrace)
            return AddAnonymousTable(name => ParseInlineTable(c, name, at));
        string value = c.ExpectValue(after);
        return AddAnonymousTable(name =>
            new TableConfig(name, TableBackendKind.Static, null, [value], new Dictionary<string, string>(), at));
    }

    private string AddAnonymousTable(Func<string, TableConfig> build)
    {
        string name;
        do
            name = $"anonymous:{++anonymousTables}";
        while (tables.ContainsKey(name));
        tables.Add(name, build(name));
        return name;
    }
}
