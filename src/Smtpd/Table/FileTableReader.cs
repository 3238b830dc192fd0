namespace Smtpd.Table;

/// <summary>
/// Reads OpenSMTPD's <c>file:</c> table format: one entry per line, <c>key value</c> for maps
/// or <c>key</c> alone for lists, <c>#</c> comments, blank lines ignored.
/// </summary>
public static class FileTableReader
{
    public static StaticTable Read(string name, string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TableTempFailException(name, $"cannot read {path}: {ex.Message}");
        }

        var list = new List<string>();
        var map = new List<KeyValuePair<string, string>>();
        foreach (var raw in lines)
        {
            int hash = raw.IndexOf('#');
            string line = (hash >= 0 ? raw[..hash] : raw).Trim();
            if (line.Length == 0) continue;
            int sep = line.IndexOfAny([' ', '\t']);
            if (sep < 0) list.Add(line);
            // aliases(5) writes "key: value"; the colon is not part of the key.
            else map.Add(new(line[..sep].TrimEnd(':'), line[(sep + 1)..].Trim()));
        }
        return new StaticTable(name, list, map);
    }
}
