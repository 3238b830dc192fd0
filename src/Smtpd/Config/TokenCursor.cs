namespace Smtpd.Config;

/// <summary>Reads one statement's tokens left to right; every "expect" failure throws a
/// <see cref="ConfigSyntaxException"/> at the offending token's file:line.</summary>
internal sealed class TokenCursor
{
    private readonly IReadOnlyList<Token> tokens;
    private readonly Token end;
    private int index;

    public TokenCursor(IReadOnlyList<Token> tokens)
    {
        this.tokens = tokens;
        var last = tokens.Count > 0 ? tokens[^1].Location : new ConfigLocation("(none)", 0);
        end = new Token(TokenKind.End, "", false, last);
    }

    public bool AtEnd => index >= tokens.Count;

    /// <summary>Where the cursor stands, for <see cref="TextFrom"/>.</summary>
    public int Position => index;

    /// <summary>The tokens from <paramref name="start"/> to here as written (quoted ones re-quoted).</summary>
    public string TextFrom(int start) =>
        string.Join(' ', tokens.Skip(start).Take(index - start).Select(t => t.Quoted ? $"\"{t.Text}\"" : t.Text));

    public Token Peek(int ahead = 0) => index + ahead < tokens.Count ? tokens[index + ahead] : end;

    /// <summary>The token most recently taken (the statement's first before any is taken).</summary>
    public Token Previous => index > 0 ? tokens[index - 1] : Peek();

    public Token Take()
    {
        var token = Peek();
        if (index < tokens.Count)
            index++;
        return token;
    }

    public bool TryKeyword(string keyword)
    {
        if (!Peek().IsKeyword(keyword))
            return false;
        index++;
        return true;
    }

    public void ExpectKeyword(string keyword, string context)
    {
        if (!TryKeyword(keyword))
            throw Unexpected(context, $"expected '{keyword}'");
    }

    public bool TryPunct(TokenKind kind)
    {
        if (Peek().Kind != kind)
            return false;
        index++;
        return true;
    }

    /// <summary>True if the next token can be a value: a quoted word, or a word that is not reserved.</summary>
    public bool PeekIsValue(int ahead = 0)
    {
        var token = Peek(ahead);
        return token.IsWord && (token.Quoted || !ConfigKeywords.IsReserved(token.Text));
    }

    /// <summary>Takes the value that must follow <paramref name="after"/> (e.g. "port").</summary>
    public string ExpectValue(string after)
    {
        var token = Peek();
        if (PeekIsValue())
        {
            index++;
            return token.Text;
        }
        if (token.Kind is TokenKind.End)
            throw new ConfigSyntaxException(token.Location, $"missing argument after '{after}'");
        if (token.IsWord)
            throw new ConfigSyntaxException(token.Location,
                $"missing argument after '{after}': '{token.Text}' is a reserved word (quote it to use it as a value)");
        throw new ConfigSyntaxException(token.Location, $"missing argument after '{after}': unexpected {token.Display}");
    }

    public void ExpectEnd(string context)
    {
        if (!AtEnd)
            throw Unexpected(context, null);
    }

    /// <summary>An error about the next token: "unexpected 'x' in listen" or "missing ... in listen".</summary>
    public ConfigSyntaxException Unexpected(string context, string? expected)
    {
        var token = Peek();
        string what = token.Kind == TokenKind.End
            ? $"unexpected end of line in {context}"
            : token.IsWord ? $"unknown keyword {token.Display} in {context}" : $"unexpected {token.Display} in {context}";
        return new ConfigSyntaxException(token.Location, expected is null ? what : $"{what} ({expected})");
    }
}
