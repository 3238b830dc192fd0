using System.Net;

namespace Smtpd.Config;

/// <summary>
/// Compiles smtpd.conf, in OpenSMTPD's modern grammar (<c>action</c>/<c>match</c>) or the seeds'
/// (<c>accept</c>/<c>reject</c>), into one immutable <see cref="Ruleset"/>. Every error is
/// collected with its file:line and reported together in a <see cref="ConfigException"/>.
/// </summary>
public sealed partial class ConfigParser
{
    readonly string _file;
    readonly Dictionary<string, string> _macros = new(StringComparer.Ordinal);
    readonly IReadOnlyDictionary<string, string> _overrides;
    readonly List<ConfigError> _errors = [];

    readonly List<ListenerConfig> _listeners = [];
    readonly Dictionary<string, TableConfig> _tables = new(StringComparer.Ordinal);
    readonly Dictionary<string, ActionConfig> _actions = new(StringComparer.Ordinal);
    readonly Dictionary<string, PkiConfig> _pki = new(StringComparer.Ordinal);
    readonly List<Rule> _rules = [];

    string? _hostname;
    long _maxMessageSize = 35 * 1024 * 1024;
    TimeSpan _expire = TimeSpan.FromDays(4);
    bool _compression;
    string? _encryptionKey;
    List<TimeSpan> _warnIntervals = [TimeSpan.FromHours(4)];

    ConfigParser(string file, IReadOnlyDictionary<string, string>? overrides)
    {
        _file = file;
        _overrides = overrides ?? new Dictionary<string, string>();
    }

    public static Ruleset ParseFile(string path, IReadOnlyDictionary<string, string>? macros = null)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([new ConfigError(new ConfigLocation(path, 0), $"cannot read configuration: {ex.Message}")]);
        }
        return Parse(text, path, macros);
    }

    public static Ruleset Parse(string text, string fileName, IReadOnlyDictionary<string, string>? macros = null)
    {
        var parser = new ConfigParser(fileName, macros);
        parser.ParseText(text, fileName);
        return parser.Build();
    }

    string? Macro(string name) =>
        _overrides.TryGetValue(name, out var v) ? v : _macros.TryGetValue(name, out var m) ? m : null;

    void ParseText(string text, string fileName)
    {
        var tokens = new Lexer(text, fileName, _errors).Tokenize();
        var statement = new List<Token>();
        foreach (var token in tokens)
        {
            if (token.Kind is TokenKind.EndOfLine or TokenKind.EndOfFile)
            {
                if (statement.Count > 0) RunStatement(statement, fileName);
                statement = [];
                continue;
            }
            statement.Add(token);
        }
    }

    void RunStatement(List<Token> raw, string fileName)
    {
        // Macros expand when their statement runs: a macro is usable after its definition.
        var tokens = MacroExpander.Expand(raw, Macro, _errors);
        if (tokens is null || tokens.Count == 0) return;
        var cursor = new TokenCursor(tokens, tokens[0].Location);
        try
        {
            Statement(cursor, fileName);
        }
        catch (ConfigSyntaxException ex)
        {
            _errors.Add(ex.Error);
        }
    }

    void Statement(TokenCursor c, string fileName)
    {
        // Macros are defined as they are read, so a macro is usable only after its definition.
        if (c.Peek.Kind == TokenKind.Word && MacroDefinition(c)) return;

        var keyword = c.Next();
        if (keyword.Kind != TokenKind.Word) throw new ConfigSyntaxException(new ConfigError(keyword.Location, $"syntax error at \"{keyword}\""));
        switch (keyword.Text)
        {
            case "include": Include(c, fileName); break;
            case "hostname": _hostname = c.Value("host name"); c.ExpectEnd(); break;
            case "max-message-size": _maxMessageSize = Size(c); c.ExpectEnd(); break;
            case "expire": _expire = Delay(c); c.ExpectEnd(); break;
            case "smtp": Smtp(c); break;
            case "queue": Queue(c); break;
            case "bounce": Bounce(c); break;
            case "listen": Listen(c); break;
            case "table": Table(c); break;
            case "pki": Pki(c); break;
            case "action": Action(c); break;
            case "match": Match(c); break;
            case "accept": SeedRule(c, reject: false, keyword.Location); break;
            case "reject": SeedRule(c, reject: true, keyword.Location); break;
            case "filter" or "proc" or "ca" or "srs" or "mta" or "limit":
                throw new ConfigSyntaxException(new ConfigError(keyword.Location, $"\"{keyword.Text}\" is not supported yet"));
            default:
                throw new ConfigSyntaxException(new ConfigError(keyword.Location, $"syntax error: unknown keyword \"{keyword.Text}\""));
        }
    }

    /// <summary>"NAME = value" defines a macro; anything else is left for the statement parsers.</summary>
    bool MacroDefinition(TokenCursor c)
    {
        var name = c.Next();
        if (!c.Accept(TokenKind.Equals))
        {
            c.Unread(name);
            return false;
        }
        if (name.Text.Length == 0 || !name.Text.All(ch => char.IsLetterOrDigit(ch) || ch == '_') || char.IsDigit(name.Text[0]))
            throw new ConfigSyntaxException(new ConfigError(name.Location, $"invalid macro name \"{name.Text}\""));
        string value = c.Value("macro value");
        c.ExpectEnd();
        // A -D definition wins over the file's, as in OpenSMTPD.
        if (!_overrides.ContainsKey(name.Text)) _macros[name.Text] = value;
        return true;
    }

    void Include(TokenCursor c, string fileName)
    {
        var at = c.Location;
        string path = c.Value("file name");
        c.ExpectEnd();
        if (!Path.IsPathRooted(path)) path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(fileName)) ?? "/", path);
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigSyntaxException(new ConfigError(at, $"cannot include {path}: {ex.Message}"));
        }
        ParseText(text, path);
    }

    void Smtp(TokenCursor c)
    {
        // OpenSMTPD 6.x: "smtp max-message-size SIZE" and other session limits.
        if (c.Accept("max-message-size")) { _maxMessageSize = Size(c); c.ExpectEnd(); return; }
        throw c.Error($"\"smtp {c.Peek}\" is not supported yet");
    }

    void Queue(TokenCursor c)
    {
        if (c.Accept("compression")) { _compression = true; c.ExpectEnd(); return; }
        if (c.Accept("encryption"))
        {
            _encryptionKey = c.AtEnd ? "stdin" : c.Value("key");
            if (_encryptionKey.Equals("key", StringComparison.Ordinal)) _encryptionKey = c.Value("key");
            c.ExpectEnd();
            return;
        }
        if (c.Accept("ttl")) { _expire = Delay(c); c.ExpectEnd(); return; }
        throw c.Error($"unknown queue option \"{c.Peek}\"");
    }

    void Bounce(TokenCursor c)
    {
        c.Expect("warn-interval");
        var intervals = new List<TimeSpan>();
        do intervals.Add(Delay(c)); while (c.Accept(TokenKind.Comma) || (!c.AtEnd && c.Peek.IsValue));
        c.ExpectEnd();
        _warnIntervals = intervals;
    }

    void Pki(TokenCursor c)
    {
        var at = c.Location;
        string name = c.Value("pki name");
        var pki = _pki.GetValueOrDefault(name) ?? new PkiConfig(name, null, null, at);
        if (c.Accept("cert") || c.Accept("certificate")) pki = pki with { Certificate = c.Value("certificate file") };
        else if (c.Accept("key")) pki = pki with { Key = c.Value("key file") };
        else if (c.Accept("dhe")) c.Value("dhe parameter");
        else throw c.Error("expected \"cert\", \"key\" or \"dhe\" after pki name");
        c.ExpectEnd();
        _pki[name] = pki;
    }

    long Size(TokenCursor c)
    {
        var at = c.Location;
        string s = c.Value("size");
        return ConfigValues.TryParseSize(s, out long n) ? n : throw new ConfigSyntaxException(new ConfigError(at, $"invalid size \"{s}\""));
    }

    TimeSpan Delay(TokenCursor c)
    {
        var at = c.Location;
        string s = c.Value("delay");
        return ConfigValues.TryParseDelay(s, out var d) ? d : throw new ConfigSyntaxException(new ConfigError(at, $"invalid delay \"{s}\""));
    }

    /// <summary>A table named where it is used: it must have been declared before.</summary>
    string UseTable(TokenCursor c, string what)
    {
        var at = c.Location;
        string name = c.TableRef(what);
        if (!_tables.ContainsKey(name)) throw new ConfigSyntaxException(new ConfigError(at, $"undefined table <{name}>"));
        return name;
    }

    /// <summary>An inline list (<c>{ a, b }</c>) or a literal used where a table may stand: an anonymous table.</summary>
    string AnonymousTable(IReadOnlyList<string> list, IReadOnlyDictionary<string, string> map, ConfigLocation at)
    {
        string name = $"anonymous-{at.Line}-{_tables.Count}";
        _tables[name] = new TableConfig(name, TableBackendKind.Static, null, list, map, at);
        return name;
    }

    Ruleset Build()
    {
        if (_errors.Count > 0) throw new ConfigException(_errors.OrderBy(e => e.Location.Line).ToList());
        string hostname = _hostname ?? DefaultHostname();
        return new Ruleset
        {
            Hostname = hostname,
            MaxMessageSize = _maxMessageSize,
            Expire = _expire,
            Listeners = _listeners,
            Tables = _tables,
            Actions = _actions,
            Rules = _rules,
            QueueCompression = _compression,
            QueueEncryptionKey = _encryptionKey,
            BounceWarnIntervals = _warnIntervals,
            Pki = _pki,
            Source = _file,
        };
    }

    static string DefaultHostname()
    {
        try { return Dns.GetHostName(); }
        catch (System.Net.Sockets.SocketException) { return "localhost"; }
    }
}
