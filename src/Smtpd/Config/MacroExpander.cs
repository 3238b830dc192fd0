using System.Text;

namespace Smtpd.Config;

/// <summary>
/// Replaces <c>$name</c> in unquoted words with the macro's value, which is lexed again (so a
/// macro may stand for several tokens). Quoted strings are not expanded, as in OpenSMTPD.
/// </summary>
public static class MacroExpander
{
    /// <summary>The expanded statement, or null (with an error added) if a macro is undefined.</summary>
    public static List<Token>? Expand(IReadOnlyList<Token> tokens, Func<string, string?> macro, List<ConfigError> errors)
    {
        var result = new List<Token>(tokens.Count);
        foreach (var t in tokens)
        {
            if (t.Kind != TokenKind.Word || !t.Text.Contains('$')) { result.Add(t); continue; }
            var sb = new StringBuilder();
            string s = t.Text;
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] != '$') { sb.Append(s[i]); continue; }
                int j = i + 1;
                while (j < s.Length && (char.IsLetterOrDigit(s[j]) || s[j] == '_')) j++;
                string name = s[(i + 1)..j];
                string? value = name.Length == 0 ? null : macro(name);
                if (value is null)
                {
                    errors.Add(new ConfigError(t.Location, $"macro '{name}' not defined"));
                    return null;
                }
                sb.Append(value);
                i = j - 1;
            }
            var inner = new Lexer(sb.ToString(), t.Location.File, errors).Tokenize();
            result.AddRange(inner.Where(x => x.Kind is not (TokenKind.EndOfFile or TokenKind.EndOfLine))
                                 .Select(x => x with { Location = t.Location }));
        }
        return result;
    }
}
