namespace Smtpd.Config;

/// <summary>Kinds of smtpd.conf tokens. Keywords are plain words: whether a word is a keyword
/// depends on where it stands, and a quoted word never is one.</summary>
internal enum TokenKind
{
    Word,
    Newline,
    LeftBrace,
    RightBrace,
    Comma,
    /// <summary><c>=</c> or <c>=&gt;</c> (both assign in a table).</summary>
    Equals,
    LessThan,
    GreaterThan,
    Bang,
    /// <summary>A lexical error (undefined macro, unterminated string); Text is the message.</summary>
    Error,
    End,
}
