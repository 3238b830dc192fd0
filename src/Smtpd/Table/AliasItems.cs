namespace Smtpd.Table;

/// <summary>How an alias value is cut into items: at commas outside double quotes.</summary>
public static class AliasItems
{
    public static List<string> Split(string value, out bool unbalanced)
    {
        var items = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        foreach (char c in value)
        {
            if (c == '"') quoted = !quoted;
            if (c == ',' && !quoted) { items.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        if (current.Length > 0) items.Add(current.ToString());
        unbalanced = quoted;
        return items;
    }

    /// <summary>An item without the spaces and quotes around it.</summary>
    public static string Clean(string item) => item.Trim().Trim('"').Trim();
}
