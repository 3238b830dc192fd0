using System.Text;

namespace Smtpd.Config;

/// <summary>
/// Splits smtpd.conf into tokens the way OpenSMTPD's parse.y does: <c>#</c> comments to the end of
/// the line, <c>\</c> joins a line to the next (also inside a comment), single or double quotes make
/// one value of anything, and an unquoted word starting with <c>$</c> is replaced by the macro's
/// value, which is split into tokens again. Quoted strings are never expanded. Tokens are pulled
/// one at a time so that a macro defined on one line is known on the next.
/// </summary>
internal sealed class ConfigLexer
{
    private readonly string text;
    private readonly string fileName;
    private readonly MacroTable macros;
    // Tokens of a macro's value are not expanded again, and all carry the line of the $name.
    private readonly ConfigLocation? expansionOf;
    private readonly Queue<Token> pending = new();
    private int pos;
    private int line = 1;

    public ConfigLexer(string text, string fileName, MacroTable macros)
    {
        this.text = text;
        this.fileName = fileName;
        this.macros = macros;
    }

    private ConfigLexer(string text, ConfigLocation expansionOf, MacroTable macros)
        : this(text, expansionOf.File, macros) => this.expansionOf = expansionOf;

    public string FileName => fileName;

    private ConfigLocation Here => expansionOf ?? new ConfigLocation(fileName, line);

    /// <summary>The next token; <see cref="TokenKind.End"/> forever once the text is used up.</summary>
    public Token Next()
    {
        if (pending.Count > 0)
            return pending.Dequeue();
        while (true)
        {
            SkipBlanksAndComments();
            var at = Here;
            if (pos >= text.Length)
                return new Token(TokenKind.End, "", false, at);
            char c = text[pos];
            switch (c)
            {
                case '\n':
                    pos++;
                    line++;
                    return new Token(TokenKind.Newline, "\n", false, at);
                case '{': pos++; return new Token(TokenKind.LeftBrace, "{", false, at);
                case '}': pos++; return new Token(TokenKind.RightBrace, "}", false, at);
                case ',': pos++; return new Token(TokenKind.Comma, ",", false, at);
                case '<': pos++; return new Token(TokenKind.LessThan, "<", false, at);
                case '>': pos++; return new Token(TokenKind.GreaterThan, ">", false, at);
                case '!': pos++; return new Token(TokenKind.Bang, "!", false, at);
                case '=':
                    pos++;
                    if (pos < text.Length && text[pos] == '>')
                        pos++;
                    return new Token(TokenKind.Equals, "=", false, at);
                case '"' or '\'':
                    return QuotedString(at);
                case '$' when expansionOf is null:
                    if (Expand(at) is { } error)
                        return error;
                    if (pending.Count > 0)
                        return pending.Dequeue();
                    continue; // a macro with an empty value
                default:
                    return Word(at);
            }
        }
    }

    private void SkipBlanksAndComments()
    {
        while (pos < text.Length)
        {
            char c = text[pos];
            if (c is ' ' or '\t' or '\r' or '\f')
                pos++;
            else if (IsContinuation())
                SkipContinuation();
            else if (c == '#')
            {
                // The comment runs to the end of the line, and past it when the line ends in '\'.
                while (pos < text.Length && text[pos] != '\n')
                {
                    if (IsContinuation())
                        SkipContinuation();
                    else
                        pos++;
                }
            }
            else
                return;
        }
    }

    private bool IsContinuation() =>
        text[pos] == '\\' && (At(pos + 1) == '\n' || (At(pos + 1) == '\r' && At(pos + 2) == '\n'));

    private void SkipContinuation()
    {
        pos += At(pos + 1) == '\r' ? 3 : 2;
        line++;
    }

    private char At(int i) => i < text.Length ? text[i] : '\0';

    private static bool EndsWord(char c) =>
        char.IsWhiteSpace(c) || c is '{' or '}' or ',' or '<' or '>' or '!' or '=' or '#' or '(' or ')';

    private Token Word(ConfigLocation at)
    {
        var word = new StringBuilder();
        while (pos < text.Length && !EndsWord(text[pos]))
        {
            if (text[pos] == '\\')
            {
                if (IsContinuation())
                    break;
                // A backslash outside quotes takes the next character as it is.
                pos++;
                // One that ends the file escapes nothing; with nothing read yet, the lone-character
                // token below would read past the end (found by fuzzing).
                if (pos >= text.Length)
                    return new Token(TokenKind.Error, "'\\' at end of file", false, at);
            }
            word.Append(text[pos++]);
        }
        if (word.Length == 0)
        {
            // A lone character no token starts with, such as '(' : report it rather than loop.
            return new Token(TokenKind.Word, text[pos++].ToString(), false, at);
        }
        return new Token(TokenKind.Word, word.ToString(), false, at);
    }

    private Token QuotedString(ConfigLocation at)
    {
        char quote = text[pos++];
        var value = new StringBuilder();
        while (true)
        {
            if (pos >= text.Length)
                return new Token(TokenKind.Error, "unterminated quoted string", false, at);
            char c = text[pos++];
            if (c == quote)
                return new Token(TokenKind.Word, value.ToString(), true, at);
            if (c == '\n')
            {
                // A quoted string may span lines; the line break itself is not kept (parse.y).
                line++;
                continue;
            }
            if (c == '\r' && At(pos) == '\n')
                continue;
            if (c == '\\' && pos < text.Length)
            {
                char next = text[pos];
                if (next == quote || next is ' ' or '\t')
                {
                    value.Append(next);
                    pos++;
                    continue;
                }
                if (next == '\n')
                {
                    pos++;
                    line++;
                    continue;
                }
            }
            value.Append(c);
        }
    }

    /// <summary>Replaces <c>$name</c> by the tokens of its value; returns an error token if undefined.</summary>
    private Token? Expand(ConfigLocation at)
    {
        int start = ++pos;
        while (pos < text.Length && (char.IsAsciiLetterOrDigit(text[pos]) || text[pos] == '_'))
            pos++;
        string name = text[start..pos];
        if (name.Length == 0)
            return new Token(TokenKind.Error, "'$' must be followed by a macro name", false, at);
        if (!macros.TryGet(name, out var value))
            return new Token(TokenKind.Error, $"undefined macro ${name}", false, at);
        var inner = new ConfigLexer(value, at, macros);
        for (var token = inner.Next(); token.Kind != TokenKind.End; token = inner.Next())
        {
            if (token.Kind != TokenKind.Newline)
                pending.Enqueue(token);
        }
        return null;
    }
}
