using Smtpd.Config;

namespace Smtpd.Tests.Config;

public class ConfigLexerTests
{
    private static List<Token> Lex(string text, Dictionary<string, string>? macros = null)
    {
        var lexer = new ConfigLexer(text, "t.conf", new MacroTable(macros));
        var tokens = new List<Token>();
        for (var t = lexer.Next(); t.Kind != TokenKind.End; t = lexer.Next())
            tokens.Add(t);
        return tokens;
    }

    [Fact]
    public void WordsPunctuationAndLines()
    {
        var tokens = Lex("table t { a, b = \"c d\" } <x> !tls\n=> # comment\nlast");
        Assert.Equal(
            ["table", "t", "{", "a", ",", "b", "=", "c d", "}", "<", "x", ">", "!", "tls", "\n", "=", "\n", "last"],
            tokens.Select(t => t.Text));
        Assert.True(tokens[7].Quoted);
        Assert.False(tokens[5].Quoted);
        Assert.Equal([1, 2, 3], tokens.Where(t => t.Kind != TokenKind.Newline).Select(t => t.Location.Line).Distinct());
    }

    [Fact]
    public void ContinuationJoinsLinesAndKeepsCounting()
    {
        var tokens = Lex("a \\\n  b\nc");
        Assert.Equal(["a", "b", "\n", "c"], tokens.Select(t => t.Text));
        Assert.Equal([1, 2, 2, 3], tokens.Select(t => t.Location.Line));
    }

    [Fact]
    public void CommentEndingInBackslashRunsOntoTheNextLine()
    {
        // smtpd.conf(5): "the comment is effective until the end of the entire block".
        var tokens = Lex("# listen on lo \\\n  port 25\nmatch");
        Assert.Equal(["\n", "match"], tokens.Select(t => t.Text));
        Assert.Equal(3, tokens[1].Location.Line);
    }

    [Fact]
    public void QuotedStringsKeepSpecialCharactersAndEscapes()
    {
        var tokens = Lex("'it''s' \"a # b { } , < >\" \"say \\\"hi\\\"\" \"x\\ny\"");
        Assert.Equal(["it", "s", "a # b { } , < >", "say \"hi\"", "x\\ny"], tokens.Select(t => t.Text));
    }

    [Fact]
    public void CarriageReturnsAreBlanks()
    {
        var tokens = Lex("listen on lo\r\nmatch\r\n");
        Assert.Equal(["listen", "on", "lo", "\n", "match", "\n"], tokens.Select(t => t.Text));
    }

    [Fact]
    public void MacroTokensCarryTheLineOfTheReference()
    {
        var tokens = Lex("\n\nlisten on $v", new() { ["v"] = "lo0 port 25" });
        Assert.Equal(["\n", "\n", "listen", "on", "lo0", "port", "25"], tokens.Select(t => t.Text));
        Assert.All(tokens.Skip(2), t => Assert.Equal(3, t.Location.Line));
    }

    [Fact]
    public void DollarInsideAWordIsLiteral()
    {
        Assert.Equal(["a$b"], Lex("a$b").Select(t => t.Text));
    }

    [Fact]
    public void UndefinedMacroIsAnErrorToken()
    {
        var error = Lex("listen on $nope").Single(t => t.Kind == TokenKind.Error);
        Assert.Equal("undefined macro $nope", error.Text);
        Assert.Equal(1, error.Location.Line);
    }
}
