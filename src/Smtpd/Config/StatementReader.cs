namespace Smtpd.Config;

/// <summary>
/// Groups tokens into statements: a statement ends at a line break outside braces, so that tables
/// and inline lists may span lines. Included files are read through a stack of lexers, the way
/// parse.y pushes files: the included file's statements come before the rest of the includer.
/// </summary>
internal sealed class StatementReader
{
    private readonly Stack<ConfigLexer> lexers = new();

    public StatementReader(ConfigLexer first) => lexers.Push(first);

    /// <summary>How many files are open, the top-level one included.</summary>
    public int Depth => lexers.Count;

    public bool IsReading(string fileName) => lexers.Any(l => l.FileName == fileName);

    /// <summary>Continues with <paramref name="lexer"/>; the current file resumes when it ends.</summary>
    public void Push(ConfigLexer lexer) => lexers.Push(lexer);

    /// <summary>The next non-empty statement, without its line break; null at the end of input.</summary>
    public IReadOnlyList<Token>? Read()
    {
        var tokens = new List<Token>();
        int depth = 0;
        while (lexers.Count > 0)
        {
            var token = lexers.Peek().Next();
            if (token.Kind == TokenKind.End)
            {
                lexers.Pop();
                // A statement never runs from one file into another.
                if (tokens.Count > 0)
                    return tokens;
                depth = 0;
                continue;
            }
            if (token.Kind == TokenKind.Newline)
            {
                if (tokens.Count == 0)
                    continue;
                if (depth == 0)
                    return tokens;
                continue;
            }
            if (token.Kind == TokenKind.LeftBrace)
                depth++;
            else if (token.Kind == TokenKind.RightBrace && depth > 0)
                depth--;
            tokens.Add(token);
        }
        return tokens.Count > 0 ? tokens : null;
    }
}
