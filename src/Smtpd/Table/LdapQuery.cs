namespace Smtpd.Table;

/// <summary>One service's search: a filter with <c>%u</c> (<c>%s</c>) for the key, <c>%h</c> for the table's name, <c>%%</c>.</summary>
public sealed record LdapQuery(string Filter, IReadOnlyList<string> Attributes)
{
    /// <summary>The filter for this key; values are escaped as RFC 4515 section 3 asks, so a key cannot change the filter.</summary>
    public string FilterFor(string key, string table)
    {
        var sb = new System.Text.StringBuilder(Filter.Length + key.Length);
        for (int i = 0; i < Filter.Length; i++)
        {
            if (Filter[i] != '%' || i + 1 >= Filter.Length) { sb.Append(Filter[i]); continue; }
            char c = Filter[++i];
            if (c is 'u' or 's') Escape(sb, key);
            else if (c == 'h') Escape(sb, table);
            else sb.Append('%');
        }
        return sb.ToString();
    }

    static void Escape(System.Text.StringBuilder sb, string value)
    {
        foreach (char c in value)
            switch (c)
            {
                case '*': sb.Append(@"\2a"); break;
                case '(': sb.Append(@"\28"); break;
                case ')': sb.Append(@"\29"); break;
                case '\\': sb.Append(@"\5c"); break;
                case '\0': sb.Append(@"\00"); break;
                default: sb.Append(c); break;
            }
    }

    /// <summary>Why the filter cannot work, or null: a specifier table-ldap does not define, or unbalanced parentheses.</summary>
    public static string? CheckFilter(string filter)
    {
        int depth = 0;
        for (int i = 0; i < filter.Length; i++)
        {
            char c = filter[i];
            if (c == '%')
            {
                if (i + 1 >= filter.Length || filter[i + 1] is not ('u' or 's' or 'h' or '%')) return $"unknown specifier in filter '{filter}' (%u, %s, %h or %%)";
                i++;
            }
            else if (c == '(') depth++;
            else if (c == ')' && --depth < 0) break;
        }
        return depth == 0 && filter.StartsWith('(') ? null : $"bad filter '{filter}' (parentheses)";
    }
}
