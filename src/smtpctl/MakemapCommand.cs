using Smtpd.Table;

namespace Smtpd.Ctl;

/// <summary>
/// <c>makemap [-U] [-t aliases|set] [-o dbfile] file</c> and <c>newaliases</c> (OpenSMTPD's
/// makemap(8)): builds the Berkeley DB hash file a <c>db:</c> table reads, from the text form
/// (the <c>file:</c> format: "key value" or "key: value", # comments, continuations).
/// The new file replaces the old one in one rename. <c>-U</c> dumps a database back to text.
/// </summary>
public static class MakemapCommand
{
    public static int Run(string name, string[] args)
    {
        string type = name == "newaliases" ? "aliases" : "map";
        string? output = null;
        bool dump = false;
        var files = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-t" when i + 1 < args.Length: type = args[++i]; break;
                case "-o" when i + 1 < args.Length: output = args[++i]; break;
                case "-U": dump = true; break;
                case "-d" when i + 1 < args.Length:
                    // OpenSMTPD also knows btree; db: tables and our makemap only write hash.
                    if (args[++i] != "hash") { Console.Error.WriteLine($"{name}: unsupported database type '{args[i]}' (hash only)"); return 1; }
                    break;
                default: files.Add(args[i]); break;
            }
        }
        if (name == "newaliases" && files.Count == 0) files.Add("/etc/mail/aliases");
        if (files.Count != 1 || type is not ("aliases" or "set" or "map"))
        {
            Console.Error.WriteLine(name == "newaliases" ? "usage: newaliases [-f file]" : "usage: makemap [-U] [-d dbtype] [-o dbfile] [-t type] file");
            return 1;
        }
        string source = files[0];
        if (dump) return Dump(name, source);
        output ??= source + ".db";

        List<(string Key, string Value)> entries;
        try { entries = Parse(source, type); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            foreach (string line in ex.Message.Split(Environment.NewLine)) Console.Error.WriteLine($"{name}: {line}");
            return 1;
        }

        string tmp = output + ".tmp";
        try
        {
            using (var db = Db185.Create(tmp))
                foreach (var (key, value) in entries) db.Put(key, value);
            File.Move(tmp, output, overwrite: true);
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"{name}: {output}: {ex.Message}");
            try { File.Delete(tmp); } catch (IOException) { }
            return 1;
        }
        return 0;
    }

    /// <summary>
    /// <c>-U</c>: every entry of a database as "key TAB value" lines, in the database's order and
    /// byte for byte what OpenSMTPD's makemap prints (a set's value is empty).
    /// </summary>
    static int Dump(string name, string path)
    {
        List<(byte[] Key, byte[] Value)> entries;
        try
        {
            if (!File.Exists(path)) throw new FileNotFoundException(null, path);
            using var db = Db185.OpenRead(path);
            entries = db.AllBytes();
        }
        catch (IOException ex)
        {
            // OpenSMTPD's words for a file dbopen cannot open, missing or not a hash database.
            Console.Error.WriteLine(SystemErrors.Errno(ex) is not null ? $"{name}: dbopen: {path}: {SystemErrors.Cause(ex)}" : $"{name}: {ex.Message}");
            return 1;
        }
        using var stdout = new BufferedStream(Console.OpenStandardOutput());
        foreach (var (key, value) in entries)
        {
            stdout.Write(key);
            stdout.WriteByte((byte)'\t');
            stdout.Write(value);
            stdout.WriteByte((byte)'\n');
        }
        return 0;
    }

    /// <summary>
    /// The entries of the source file, read as the daemon reads a <c>file:</c> table
    /// (<c>FileTableReader</c>, so makemap and <c>file:</c> agree, as OpenSMTPD made them agree in
    /// 7.5), a list for <c>-t set</c> and a map otherwise. As OpenSMTPD's makemap, a key given
    /// twice is an error; aliases values must be aliases, every bad line named at path:line.
    /// </summary>
    static List<(string, string)> Parse(string path, string type)
    {
        TableContents contents;
        try { contents = FileTableReader.Read(path, path, isList: type == "set"); }
        catch (TableTempFailException ex) { throw new FormatException(ex.Reason); }

        var problems = new List<string>();
        var seen = new Dictionary<string, int>();
        foreach (var entry in contents.Entries)
        {
            string key = entry.Key.ToLowerInvariant();
            if (!seen.TryAdd(key, entry.Line)) problems.Add($"{path}:{entry.Line}: duplicate entry for {key} (first at line {seen[key]})");
        }
        if (type == "aliases") problems.AddRange(contents.Problems(path, new HashSet<TableUse> { TableUse.Aliases }));
        if (problems.Count > 0) throw new FormatException(string.Join(Environment.NewLine, problems));
        return [.. contents.Entries.Select(e => (e.Key.ToLowerInvariant(), e.Value ?? ""))];
    }
}
