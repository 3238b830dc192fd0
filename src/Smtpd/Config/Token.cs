namespace Smtpd.Config;

public enum TokenKind { Word, String, TableRef, Open, Close, Comma, Equals, Bang, EndOfLine, EndOfFile }

/// <summary>One lexical token of smtpd.conf, with where it was read.</summary>
public readonly record struct Token(TokenKind Kind, string Text, ConfigLocation Location)
{
    /// <summary>A word or quoted string: something that can be a value.</summary>
    public bool IsValue => Kind is TokenKind.Word or TokenKind.String;

    public bool Is(string keyword) => Kind == TokenKind.Word && string.Equals(Text, keyword, StringComparison.Ordinal);

    public override string ToString() => Kind switch
    {
        TokenKind.EndOfLine => "end of line",
        TokenKind.EndOfFile => "end of file",
        TokenKind.TableRef => $"<{Text}>",
        TokenKind.String => $"\"{Text}\"",
        _ => Text,
    };
}
