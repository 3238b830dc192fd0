using System.Collections.Concurrent;

namespace Smtpd.Mta;

/// <summary>
/// The last result the MTA had for each destination domain, and when (OpenSMTPD's hoststat, for
/// <c>smtpctl show hoststats</c>). An entry not updated for <see cref="Expiry"/> is forgotten.
/// </summary>
public sealed class HostStats
{
    public static readonly TimeSpan Expiry = TimeSpan.FromHours(4);
    readonly ConcurrentDictionary<string, (DateTimeOffset At, string Result)> _domains = new(StringComparer.Ordinal);

    public void Update(string domain, string result, DateTimeOffset at)
    {
        if (domain.Length == 0) return;
        _domains[domain.ToLowerInvariant()] = (at, result);
    }

    /// <summary>"domain|unix time|last result" lines, by domain, as OpenSMTPD's smtpctl prints them.</summary>
    public IReadOnlyList<string> Lines(DateTimeOffset now)
    {
        foreach (var (domain, entry) in _domains)
            if (now - entry.At > Expiry) _domains.TryRemove(domain, out _);
        return _domains.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key}|{kv.Value.At.ToUnixTimeSeconds()}|{kv.Value.Result}").ToList();
    }
}
