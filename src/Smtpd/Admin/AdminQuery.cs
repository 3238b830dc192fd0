namespace Smtpd.Admin;

/// <summary>Reads one parameter of a URL query (<c>a=1&amp;b=x+y</c>, form-encoded).</summary>
internal static class AdminQuery
{
    public static string? Get(string? query, string name)
    {
        if (query is null) return null;
        foreach (string pair in query.Split('&'))
        {
            int eq = pair.IndexOf('=');
            string key = eq < 0 ? pair : pair[..eq];
            if (key == name) return eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
        }
        return null;
    }
}
