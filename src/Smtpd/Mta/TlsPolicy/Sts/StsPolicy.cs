namespace Smtpd.Mta.TlsPolicy.Sts;

/// <summary>
/// An MTA-STS policy file (RFC 8461 3.2): <c>version: STSv1</c>, <c>mode</c> (enforce, testing
/// or none), one <c>mx</c> line per allowed MX pattern (a leading <c>*.</c> stands for exactly
/// one label) and <c>max_age</c> in seconds (at most a year). Unknown keys are ignored.
/// </summary>
public sealed record StsPolicy(string Mode, IReadOnlyList<string> Mx, TimeSpan MaxAge)
{
    /// <summary>RFC 8461 3.2: max_age is at most 31557600 seconds.</summary>
    public static readonly TimeSpan LongestMaxAge = TimeSpan.FromSeconds(31557600);

    /// <summary>The policy, or null with why it is not one.</summary>
    public static StsPolicy? Parse(string text, out string? problem)
    {
        string? version = null, mode = null;
        long? maxAge = null;
        var mx = new List<string>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "version": version ??= value; break;
                case "mode": mode ??= value; break;
                case "max_age" when long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long seconds):
                    maxAge ??= seconds;
                    break;
                case "mx": mx.Add(value.TrimEnd('.').ToLowerInvariant()); break;
            }
        }
        problem = version != "STSv1" ? "no \"version: STSv1\""
            : mode is not ("enforce" or "testing" or "none") ? $"bad mode \"{mode}\""
            : maxAge is null ? "no valid max_age"
            : mode != "none" && mx.Count == 0 ? "no mx line"
            : null;
        return problem is null ? new StsPolicy(mode!, mx, TimeSpan.FromSeconds(Math.Min(maxAge!.Value, (long)LongestMaxAge.TotalSeconds))) : null;
    }

    /// <summary>Whether an MX host name is allowed: equal to a pattern, or one label more than a <c>*.</c> pattern (RFC 8461 4.1).</summary>
    public bool Allows(string host)
    {
        host = host.TrimEnd('.').ToLowerInvariant();
        foreach (string pattern in Mx)
        {
            if (pattern == host) return true;
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                int dot = host.IndexOf('.');
                if (dot > 0 && host[(dot + 1)..] == pattern[2..]) return true;
            }
        }
        return false;
    }

    public override string ToString() => $"mode: {Mode}; mx: {string.Join(", ", Mx)}; max_age: {(long)MaxAge.TotalSeconds}";
}
