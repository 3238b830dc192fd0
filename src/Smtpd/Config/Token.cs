namespace Smtpd.Config;

/// <summary>One token of smtpd.conf and the file:line it was read at.</summary>
/// <param name="Quoted">Written in quotes: always a value, never a keyword.</param>
internal sealed record Token(TokenKind Kind, string Text, bool Quoted, ConfigLocation Location)
{
    public bool IsWord => Kind == TokenKind.Word;

    public bool IsKeyword(string keyword) => Kind == TokenKind.Word && !Quoted && Text == keyword;

    /// <summary>How the token reads in an error message.</summary>
    public string Display => Kind switch
    {
        TokenKind.Word => Quoted ? $"\"{Text}\"" : $"'{Text}'",
        TokenKind.Newline or TokenKind.End => "end of line",
        _ => $"'{Text}'",
    };
}
