namespace Smtpd.Config;

/// <summary>
/// Macros (<c>name = value</c>) for <c>$name</c> expansion. Values given on the command line
/// (<c>smtpd -D name=value</c>) are pinned: a definition in the file does not replace them,
/// as with OpenSMTPD's persistent symbols.
/// </summary>
internal sealed class MacroTable
{
    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);
    private readonly HashSet<string> pinned = new(StringComparer.Ordinal);

    public MacroTable(IReadOnlyDictionary<string, string>? overrides)
    {
        foreach (var (name, value) in overrides ?? new Dictionary<string, string>())
        {
            values[name] = value;
            pinned.Add(name);
        }
    }

    /// <summary>Defines a macro from the file, unless the command line pinned it.</summary>
    public void Define(string name, string value)
    {
        if (!pinned.Contains(name))
            values[name] = value;
    }

    public bool TryGet(string name, out string value) => values.TryGetValue(name, out value!);

    /// <summary>Letters, digits and underscores only: what <c>$name</c> can reference.</summary>
    public static bool IsValidName(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
