using System.Text;

namespace Smtpd.Config;

/// <summary>
/// Splits smtpd.conf into tokens, as OpenSMTPD's parse.y lexer does: <c>#</c> comments,
/// <c>\</c> line continuation, double-quoted strings, <c>&lt;table&gt;</c> references, and
/// newlines ending statements except inside braces. Words may hold <c>$macro</c> references,
/// which <see cref="MacroExpander"/> replaces when their statement runs.
/// </summary>
public sealed class Lexer(string text, string file, List<ConfigError> errors)
{
    int _pos;
    int _line = 1;
    int _braces;

    public List<Token> Tokenize()
    {
        var tokens = new List<Token>();
        while (true)
        {
            var t = Next();
            tokens.Add(t);
            if (t.Kind == TokenKind.EndOfFile) return tokens;
        }
    }

    ConfigLocation Here => new(file, _line);

    Token Next()
    {
        while (_pos < text.Length)
        {
            char c = text[_pos];
            if (c == '\\' && _pos + 1 < text.Length && text[_pos + 1] == '\n') { _pos += 2; _line++; continue; }
            if (c == '\\' && _pos + 2 < text.Length && text[_pos + 1] == '\r' && text[_pos + 2] == '\n') { _pos += 3; _line++; continue; }
            if (c is ' ' or '\t' or '\r') { _pos++; continue; }
            if (c == '#') { while (_pos < text.Length && text[_pos] != '\n') _pos++; continue; }
            if (c == '\n')
            {
                var loc = Here;
                _pos++; _line++;
                if (_braces > 0) continue; // a table's entries may span lines
                return new Token(TokenKind.EndOfLine, "", loc);
            }
            break;
        }
        if (_pos >= text.Length) return new Token(TokenKind.EndOfFile, "", Here);

        var at = Here;
        char ch = text[_pos];
        switch (ch)
        {
            case '{': _pos++; _braces++; return new Token(TokenKind.Open, "{", at);
            case '}': _pos++; _braces = Math.Max(0, _braces - 1); return new Token(TokenKind.Close, "}", at);
            case ',': _pos++; return new Token(TokenKind.Comma, ",", at);
            case '=': _pos++; return new Token(TokenKind.Equals, "=", at);
            case '!': _pos++; return new Token(TokenKind.Bang, "!", at);
            case '"': return QuotedString(at);
            case '<':
                int close = text.IndexOf('>', _pos);
                int eol = text.IndexOf('\n', _pos);
                if (close > 0 && (eol < 0 || close < eol))
                {
                    string name = text[(_pos + 1)..close];
                    _pos = close + 1;
                    return new Token(TokenKind.TableRef, name, at);
                }
                break;
        }
        int start = _pos;
        while (_pos < text.Length && !IsDelimiter(text[_pos])) _pos++;
        return new Token(TokenKind.Word, text[start.._pos], at);
    }

    static bool IsDelimiter(char c) => c is ' ' or '\t' or '\r' or '\n' or '{' or '}' or ',' or '=' or '"' or '#';

    Token QuotedString(ConfigLocation at)
    {
        var sb = new StringBuilder();
        _pos++;
        while (_pos < text.Length && text[_pos] != '"')
        {
            if (text[_pos] == '\n') { errors.Add(new ConfigError(at, "unterminated quoted string")); break; }
            if (text[_pos] == '\\' && _pos + 1 < text.Length && text[_pos + 1] is '"' or '\\') _pos++;
            sb.Append(text[_pos++]);
        }
        if (_pos < text.Length && text[_pos] == '"') _pos++;
        return new Token(TokenKind.String, sb.ToString(), at);
    }
}
