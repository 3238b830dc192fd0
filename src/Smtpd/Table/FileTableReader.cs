namespace Smtpd.Table;

/// <summary>
/// Reads OpenSMTPD's <c>file:</c> table format (table(5), util.c parse_table_line), which
/// <c>makemap</c> reads too: lines are trimmed and blank ones skipped; a line whose first
/// non-space character is <c>#</c> is a comment (<c># @list</c> before the first entry makes the
/// table a list); a key runs to the first space, tab or colon (<c>[...]</c> keys to the bracket);
/// the first entry decides list or map unless the caller says. In a list the whole line is the
/// entry; in a map a key without a value is an error at <c>path:line</c>. A repeated key keeps
/// its last value.
/// Two continuations, both reported at the entry's first line: a line ending in a backslash
/// goes on with the next line (as OpenSMTPD's makemap read it up to 7.4, through fparseln), and
/// in a map an indented line goes on with an entry whose value ends with a comma (aliases(5)
/// style, "team: alice,\n  bob"). Any other indented line is an entry of its own, as in OpenSMTPD.
/// </summary>
public static class FileTableReader
{
    /// <param name="isList">true or false to force a list or a map (makemap's <c>-t</c>); null
    /// to let the first entry decide.</param>
    public static TableContents Read(string name, string path, bool? isList = null)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TableTempFailException(name, $"cannot read {path}: {ex.Message}");
        }

        var entries = new List<TableEntry>();
        for (int n = 0; n < lines.Length; n++)
        {
            int first = n;
            string raw = JoinBackslashContinuations(lines, ref n);
            string line = Trim(raw);
            if (line.Length == 0) continue;
            if (line[0] == '#')
            {
                if (isList is null && entries.Count == 0 && line[1..].TrimStart(' ', '\t') == "@list") isList = true;
                continue;
            }
            if (isList == false && raw[0] is (' ' or '\t') && entries.Count > 0 && entries[^1].Value!.EndsWith(','))
            {
                entries[^1] = entries[^1] with { Value = entries[^1].Value + " " + line };
                continue;
            }
            // Once the table is a list, a line is one entry whatever it holds ("[a-z]+" included).
            if (isList == true) { entries.Add(new TableEntry(line, null, first + 1)); continue; }
            int keyEnd;
            if (line[0] == '[')
            {
                int close = line.IndexOf(']');
                if (close < 0) throw new TableTempFailException(name, $"{path}:{first + 1}: invalid map entry (no ']')");
                keyEnd = close + 1;
            }
            else
            {
                keyEnd = line.IndexOfAny([' ', '\t', ':']);
                if (keyEnd < 0) keyEnd = line.Length;
            }
            isList ??= keyEnd == line.Length;
            if (isList == true) { entries.Add(new TableEntry(line, null, first + 1)); continue; }

            string value = keyEnd < line.Length ? line[(keyEnd + 1)..].TrimStart(' ', '\t') : "";
            if (value.Length == 0) throw new TableTempFailException(name, $"{path}:{first + 1}: invalid map entry (a key without a value)");
            entries.Add(new TableEntry(line[..keyEnd].ToLowerInvariant(), value, first + 1));
        }
        return new TableContents(entries, isList ?? false);
    }

    static string Trim(string s) => s.Trim(' ', '\t', '\r', '\f', '\v');

    /// <summary>Line <paramref name="n"/> with the lines it continues onto through a final
    /// unescaped backslash (an odd number of them); <paramref name="n"/> ends on the last one.</summary>
    static string JoinBackslashContinuations(string[] lines, ref int n)
    {
        string text = lines[n].TrimEnd('\r');
        while (n + 1 < lines.Length && EndsInContinuation(text))
            text = text[..^1] + lines[++n].TrimEnd('\r');
        return text;
    }

    static bool EndsInContinuation(string text)
    {
        int count = 0;
        for (int i = text.Length - 1; i >= 0 && text[i] == '\\'; i--) count++;
        return count % 2 == 1;
    }
}
