namespace Smtpd.Table;

/// <summary>
/// Reads OpenSMTPD's <c>file:</c> table format (table(5), util.c parse_table_line): lines are
/// trimmed and blank ones skipped; a line whose first non-space character is <c>#</c> is a
/// comment (<c># @list</c> before the first entry makes the table a list); a key runs to the
/// first space, tab or colon (<c>[...]</c> keys to the bracket); the first entry decides
/// list or map. In a list the whole line is the entry; in a map a key without a value is an
/// error at <c>path:line</c>. There are no continuation lines. A repeated key keeps its last value.
/// </summary>
public static class FileTableReader
{
    public static TableContents Read(string name, string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TableTempFailException(name, $"cannot read {path}: {ex.Message}");
        }

        bool? isList = null;
        var entries = new List<TableEntry>();
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n].Trim(' ', '\t', '\r', '\f', '\v');
            if (line.Length == 0) continue;
            if (line[0] == '#')
            {
                if (isList is null && line[1..].TrimStart(' ', '\t') == "@list") isList = true;
                continue;
            }
            // Once the table is a list, a line is one entry whatever it holds ("[a-z]+" included).
            if (isList == true) { entries.Add(new TableEntry(line, null, n + 1)); continue; }
            int keyEnd;
            if (line[0] == '[')
            {
                int close = line.IndexOf(']');
                if (close < 0) throw new TableTempFailException(name, $"{path}:{n + 1}: invalid map entry (no ']')");
                keyEnd = close + 1;
            }
            else
            {
                keyEnd = line.IndexOfAny([' ', '\t', ':']);
                if (keyEnd < 0) keyEnd = line.Length;
            }
            isList ??= keyEnd == line.Length;
            if (isList == true) { entries.Add(new TableEntry(line, null, n + 1)); continue; }

            string value = keyEnd < line.Length ? line[(keyEnd + 1)..].TrimStart(' ', '\t') : "";
            if (value.Length == 0) throw new TableTempFailException(name, $"{path}:{n + 1}: invalid map entry (a key without a value)");
            entries.Add(new TableEntry(line[..keyEnd].ToLowerInvariant(), value, n + 1));
        }
        return new TableContents(entries, isList ?? false);
    }
}
