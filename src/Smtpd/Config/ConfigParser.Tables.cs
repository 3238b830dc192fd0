namespace Smtpd.Config;

public sealed partial class ConfigParser
{
    /// <summary>
    /// <c>table NAME { a, b }</c>, <c>table NAME { k = v, ... }</c>, <c>table NAME static:/path</c>...
    /// <c>table NAME file:/path</c>, <c>table NAME db:/path</c>, or <c>table NAME /path</c> (a file).
    /// </summary>
    void Table(TokenCursor c)
    {
        var at = c.Location;
        string name = c.Value("table name");
        if (_tables.ContainsKey(name)) throw new ConfigSyntaxException(new ConfigError(at, $"table <{name}> already defined"));

        if (c.Accept("static") && c.Peek.Kind != TokenKind.Open)
            throw c.Error("expected { after \"static\"");
        if (c.Accept(TokenKind.Open))
        {
            var (list, map) = TableContents(c);
            c.ExpectEnd();
            if (list.Count > 0 && map.Count > 0) throw new ConfigSyntaxException(new ConfigError(at, $"table <{name}> mixes list entries and key = value pairs"));
            _tables[name] = new TableConfig(name, TableBackendKind.Static, null, list, map, at);
            return;
        }

        string spec = c.Value("table source");
        c.ExpectEnd();
        int colon = spec.IndexOf(':');
        string backend = colon > 0 ? spec[..colon] : "file";
        string path = colon > 0 ? spec[(colon + 1)..] : spec;
        var kind = backend switch
        {
            "file" => TableBackendKind.File,
            "db" => TableBackendKind.Db,
            _ => throw new ConfigSyntaxException(new ConfigError(at, $"table backend \"{backend}\" is not supported yet")),
        };
        if (path.Length == 0 || path[0] != '/') throw new ConfigSyntaxException(new ConfigError(at, $"table <{name}>: path must be absolute"));
        _tables[name] = new TableConfig(name, kind, path, [], new Dictionary<string, string>(), at);
    }

    /// <summary>Reads entries up to the closing brace: "a, b" (a list) or "k = v, k2 = v2" (a map).</summary>
    static (List<string> List, Dictionary<string, string> Map) TableContents(TokenCursor c)
    {
        var list = new List<string>();
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        while (!c.Accept(TokenKind.Close))
        {
            var at = c.Location;
            string key = c.Value("table entry");
            if (c.Accept(TokenKind.Equals))
            {
                string value = c.Value($"value for \"{key}\"");
                if (!map.TryAdd(key, value)) throw new ConfigSyntaxException(new ConfigError(at, $"duplicate key \"{key}\""));
            }
            else list.Add(key);
            if (!c.Accept(TokenKind.Comma) && c.Peek.Kind != TokenKind.Close)
                throw c.Error($"expected \",\" or \"}}\", found \"{c.Peek}\"");
        }
        return (list, map);
    }
}
