using Smtpd.Table;

namespace Smtpd.Ctl;

/// <summary>
/// <c>makemap [-t aliases|set] [-o dbfile] file</c> and <c>newaliases</c> (OpenSMTPD's
/// makemap(8)): builds the Berkeley DB hash file a <c>db:</c> table reads, from the text form
/// ("key value", or "key: value" for aliases; continuation lines start with blanks; # comments).
/// The new file replaces the old one in one rename.
/// </summary>
public static class MakemapCommand
{
    public static int Run(string name, string[] args)
    {
        string type = name == "newaliases" ? "aliases" : "map";
        string? output = null;
        var files = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-t" when i + 1 < args.Length: type = args[++i]; break;
                case "-o" when i + 1 < args.Length: output = args[++i]; break;
                case "-U": Console.Error.WriteLine($"{name}: -U (dump) is not supported"); return 1;
                default: files.Add(args[i]); break;
            }
        }
        if (name == "newaliases" && files.Count == 0) files.Add("/etc/mail/aliases");
        if (files.Count != 1 || type is not ("aliases" or "set" or "map"))
        {
            Console.Error.WriteLine("usage: makemap [-t aliases|set] [-o dbfile] file");
            return 1;
        }
        string source = files[0];
        output ??= source + ".db";

        List<(string Key, string Value)> entries;
        try { entries = Parse(source, type); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            Console.Error.WriteLine($"{name}: {ex.Message}");
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

    static List<(string, string)> Parse(string path, string type)
    {
        var logical = new List<(int Line, string Text)>();
        int n = 0;
        foreach (string raw in File.ReadAllLines(path))
        {
            n++;
            int hash = raw.IndexOf('#');
            string line = hash >= 0 ? raw[..hash] : raw;
            if (line.Trim().Length == 0) continue;
            if (char.IsWhiteSpace(line[0]) && logical.Count > 0)
                logical[^1] = (logical[^1].Line, logical[^1].Text + " " + line.Trim());
            else
                logical.Add((n, line.Trim()));
        }
        var entries = new List<(string, string)>();
        foreach (var (line, text) in logical)
        {
            if (type == "set") { entries.Add((text.ToLowerInvariant(), "")); continue; }
            int sep = type == "aliases" ? text.IndexOf(':') : text.IndexOfAny([' ', '\t']);
            if (sep <= 0) throw new FormatException($"{path}:{line}: expected \"key{(type == "aliases" ? ":" : "")} value\"");
            string key = text[..sep].Trim().TrimEnd(':'), value = text[(sep + 1)..].Trim();
            if (value.Length == 0) throw new FormatException($"{path}:{line}: no value for {key}");
            entries.Add((type == "aliases" ? key.ToLowerInvariant() : key, value));
        }
        return entries;
    }
}
