namespace Smtpd.Config;

/// <summary>Walks the tokens of one statement; any error ends the statement with a file:line message.</summary>
public sealed class TokenCursor(IReadOnlyList<Token> tokens, ConfigLocation statementStart)
{
    int _i;

    public bool AtEnd => _i >= tokens.Count;
    public Token Peek => AtEnd ? new Token(TokenKind.EndOfLine, "", Last) : tokens[_i];
    public ConfigLocation Location => AtEnd ? Last : tokens[_i].Location;
    ConfigLocation Last => tokens.Count > 0 ? tokens[^1].Location : statementStart;

    /// <summary>Steps back over <paramref name="token"/>, which must be the one just read.</summary>
    public void Unread(Token token)
    {
        if (_i > 0 && tokens[_i - 1] == token) _i--;
    }

    public Token Next() => AtEnd ? throw Error($"unexpected end of line") : tokens[_i++];

    public bool Accept(string keyword)
    {
        if (!Peek.Is(keyword)) return false;
        _i++;
        return true;
    }

    public bool Accept(TokenKind kind)
    {
        if (Peek.Kind != kind) return false;
        _i++;
        return true;
    }

    public void Expect(string keyword)
    {
        if (!Accept(keyword)) throw Error($"expected \"{keyword}\", found {Describe(Peek)}");
    }

    /// <summary>A word or quoted string; <paramref name="what"/> names it in the error.</summary>
    public string Value(string what)
    {
        var t = Peek;
        if (!t.IsValue) throw Error($"{what} expected, found {Describe(t)}");
        _i++;
        return t.Text;
    }

    public string TableRef(string what)
    {
        var t = Peek;
        if (t.Kind != TokenKind.TableRef) throw Error($"{what}: table reference <name> expected, found {Describe(t)}");
        _i++;
        return t.Text;
    }

    public void ExpectEnd()
    {
        if (!AtEnd) throw Error($"unexpected {Describe(Peek)}");
    }

    public ConfigSyntaxException Error(string message) => new(new ConfigError(Location, message));

    static string Describe(Token t) => t.Kind == TokenKind.EndOfLine ? "end of line" : $"\"{t}\"";
}

/// <summary>An error that ends the current statement; the parser records it and goes on.</summary>
public sealed class ConfigSyntaxException(ConfigError error) : Exception(error.ToString())
{
    public ConfigError Error { get; } = error;
}
