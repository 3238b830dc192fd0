using System.Net;

namespace Smtpd.Config;

/// <summary>
/// Compiles smtpd.conf into a <see cref="Ruleset"/>. Reads both grammars: the seed's (OpenSMTPD 5.x:
/// <c>accept|reject ... deliver to|relay</c>) and OpenSMTPD 6.4+'s (<c>action</c> and <c>match</c>);
/// they may be mixed, and rules keep their order since the first match wins. Tables, actions,
/// pkis and filters must be declared before they are named, as in OpenSMTPD. On errors it keeps
/// going with the next statement and throws one <see cref="ConfigException"/> carrying all of them,
/// each as <c>file:line: message</c>. It reads no table file and no certificate.
/// </summary>
public sealed partial class ConfigParser
{
    private const int MaxIncludeDepth = 16;

    private readonly string fileName;
    private readonly MacroTable macros;
    private readonly StatementReader reader;
    private readonly List<ConfigError> errors = [];
    private readonly List<ListenerConfig> listeners = [];
    private readonly Dictionary<string, TableConfig> tables = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ActionConfig> actions = new(StringComparer.Ordinal);
    private readonly List<Rule> rules = [];
    private readonly Dictionary<string, PkiConfig> pkis = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CaConfig> cas = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> mdaWrappers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FilterConfig> filters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FilterConfig> procs = new(StringComparer.Ordinal);
    // Scalar settings, replaced with `with` as statements set them.
    private Ruleset settings;
    // Names whose declaration had an error: naming them later is not reported again.
    private readonly HashSet<string> brokenTables = new(StringComparer.Ordinal);
    private readonly HashSet<string> brokenActions = new(StringComparer.Ordinal);
    private int anonymousTables;
    private ConfigLocation lastLocation;

    // The directories smtpd.conf's short names point into (SMTPD_LIBEXEC, SMTPD_CERTDIR).
    private readonly string externalTableDirectory;
    // Where included files are read from (the disk, or what the privileged helper read).
    private readonly ConfigFiles files;

    private ConfigParser(string text, string fileName, IReadOnlyDictionary<string, string>? macroOverrides, SmtpdSettings? outside, ConfigFiles? files)
    {
        outside ??= SmtpdSettings.Default;
        this.files = files ?? ConfigFiles.Disk;
        externalTableDirectory = outside.LibexecDirectory;
        this.fileName = fileName;
        macros = new MacroTable(macroOverrides);
        reader = new StatementReader(new ConfigLexer(text, fileName, macros));
        settings = new Ruleset { Hostname = DefaultHostname(), Source = fileName, CertificateDirectory = outside.CertificateDirectory };
        lastLocation = new ConfigLocation(fileName, 1);
    }

    /// <summary>Compiles configuration text. <paramref name="fileName"/> is used in error messages.</summary>
    /// <param name="macros">Macros from the command line (<c>-D name=value</c>); they win over the file's.</param>
    /// <param name="outside">Where table programs and seed certificates are (SMTPD_LIBEXEC, SMTPD_CERTDIR); null: the system's.</param>
    /// <param name="files">Where <c>include</c> reads; null: the disk.</param>
    /// <exception cref="ConfigException">The text has errors; all of them are listed.</exception>
    public static Ruleset Parse(string text, string fileName, IReadOnlyDictionary<string, string>? macros = null, SmtpdSettings? outside = null,
        ConfigFiles? files = null) =>
        new ConfigParser(text, fileName, macros, outside, files).Run();

    /// <summary>Reads and compiles a configuration file.</summary>
    /// <exception cref="ConfigException">The file cannot be read or has errors.</exception>
    public static Ruleset ParseFile(string path, IReadOnlyDictionary<string, string>? macros = null, SmtpdSettings? outside = null,
        ConfigFiles? files = null)
    {
        files ??= ConfigFiles.Disk;
        string text;
        try
        {
            text = files.ReadText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([new ConfigError(new ConfigLocation(path, 0), $"cannot read file: {e.Message}")]);
        }
        return Parse(text, path, macros, outside, files);
    }

    /// <summary>The server name when the file gives none (OpenSMTPD uses gethostname(3) too).</summary>
    public static string DefaultHostname()
    {
        try
        {
            return Dns.GetHostName();
        }
        catch (System.Net.Sockets.SocketException)
        {
            return Environment.MachineName;
        }
    }

    private Ruleset Run()
    {
        for (var statement = reader.Read(); statement is not null; statement = reader.Read())
        {
            lastLocation = statement[^1].Location;
            var lexicalErrors = statement.Where(t => t.Kind == TokenKind.Error).ToList();
            if (lexicalErrors.Count > 0)
            {
                // The statement is not what was written: report why and drop it whole.
                errors.AddRange(lexicalErrors.Select(t => new ConfigError(t.Location, t.Text)));
                continue;
            }
            var cursor = new TokenCursor(statement);
            try
            {
                ParseStatement(cursor);
            }
            catch (ConfigSyntaxException e)
            {
                errors.Add(e.ToError());
            }
        }
        CheckCompleteness();
        if (errors.Count > 0)
            throw new ConfigException(errors);
        return settings with
        {
            Listeners = listeners.ToArray(),
            Tables = new Dictionary<string, TableConfig>(tables, StringComparer.Ordinal),
            Actions = new Dictionary<string, ActionConfig>(actions, StringComparer.Ordinal),
            Rules = rules.ToArray(),
            Pkis = new Dictionary<string, PkiConfig>(pkis, StringComparer.Ordinal),
            Cas = new Dictionary<string, CaConfig>(cas, StringComparer.Ordinal),
            MdaWrappers = new Dictionary<string, string>(mdaWrappers, StringComparer.Ordinal),
            Filters = new Dictionary<string, FilterConfig>(filters, StringComparer.Ordinal),
            Procs = new Dictionary<string, FilterConfig>(procs, StringComparer.Ordinal),
        };
    }

    private void ParseStatement(TokenCursor c)
    {
        var first = c.Peek();
        if (first.IsWord && c.Peek(1).Kind == TokenKind.Equals)
        {
            DefineMacro(c);
            return;
        }
        if (!first.IsWord || first.Quoted)
            throw new ConfigSyntaxException(first.Location, $"syntax error: unexpected {first.Display}");
        switch (first.Text)
        {
            case "include": Include(c); break;
            case "table": ParseTable(c); break;
            case "listen": ParseListen(c); break;
            case "action": ParseAction(c); break;
            case "match": ParseMatch(c); break;
            case "accept" or "reject": ParseSeedRule(c); break;
            default: ParseGlobal(c); break;
        }
    }

    /// <summary><c>name = value</c>: later unquoted <c>$name</c> expand to value.</summary>
    private void DefineMacro(TokenCursor c)
    {
        var name = c.Take();
        c.Take(); // '='
        if (!MacroTable.IsValidName(name.Text))
            throw new ConfigSyntaxException(name.Location, $"invalid macro name '{name.Text}': use letters, digits and '_'");
        if (!name.Quoted && ConfigKeywords.IsReserved(name.Text))
            throw new ConfigSyntaxException(name.Location, $"macro name cannot be a reserved word: '{name.Text}'");
        var value = c.Take();
        if (!value.IsWord)
            throw new ConfigSyntaxException(value.Location, $"missing value for macro '{name.Text}'");
        c.ExpectEnd("macro definition");
        macros.Define(name.Text, value.Text);
    }

    /// <summary><c>include "file"</c>: the file's statements are read in place of this one.</summary>
    private void Include(TokenCursor c)
    {
        var keyword = c.Take();
        string path = c.ExpectValue("include");
        c.ExpectEnd("include");
        // OpenSMTPD wants an absolute path; a relative one is taken from the including file's folder.
        if (!Path.IsPathRooted(path))
            path = Path.Combine(Path.GetDirectoryName(keyword.Location.File) ?? "", path);
        if (reader.Depth >= MaxIncludeDepth || reader.IsReading(path))
            throw new ConfigSyntaxException(keyword.Location, $"include loop or too deep: {path}");
        string text;
        try
        {
            text = files.ReadText(path);
        }
        // ArgumentException: a path no file can have, such as one with a NUL (found by fuzzing).
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ConfigSyntaxException(keyword.Location, $"failed to include file {path}: {e.Message}");
        }
        reader.Push(new ConfigLexer(text, path, macros));
    }

    private void CheckCompleteness()
    {
        foreach (var pki in pkis.Values)
        {
            if (pki.CertificateFile is null)
                errors.Add(new ConfigError(pki.Location, $"pki {pki.Name} has no certificate (pki {pki.Name} cert FILE)"));
            if (pki.KeyFile is null)
                errors.Add(new ConfigError(pki.Location, $"pki {pki.Name} has no key (pki {pki.Name} key FILE)"));
        }
        // As OpenSMTPD: a configuration without rules accepts nothing and is an error.
        if (rules.Count == 0 && errors.Count == 0)
            errors.Add(new ConfigError(lastLocation, "no rules, nothing to do"));
    }

    private void Error(ConfigLocation at, string message) => errors.Add(new ConfigError(at, message));
}
