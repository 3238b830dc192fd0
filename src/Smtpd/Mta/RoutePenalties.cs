using System.Collections.Concurrent;

namespace Smtpd.Mta;

/// <summary>
/// Routes that failed (no next hop reachable, or greylisting) wait before the next attempt:
/// 2 s, then twice as long each time, up to a minute (seed 003: penalties grow). A success
/// clears the route's penalty.
/// </summary>
public sealed class RoutePenalties
{
    static readonly TimeSpan First = TimeSpan.FromSeconds(2);
    static readonly TimeSpan Max = TimeSpan.FromMinutes(1);
    readonly ConcurrentDictionary<string, (int Count, DateTimeOffset Until)> _routes = new();

    public DateTimeOffset Until(string route) => _routes.TryGetValue(route, out var p) ? p.Until : DateTimeOffset.MinValue;

    public DateTimeOffset Penalize(string route, DateTimeOffset now)
    {
        var p = _routes.AddOrUpdate(route,
            _ => (1, now + First),
            (_, old) => (old.Count + 1, now + TimeSpan.FromTicks(Math.Min(Max.Ticks, First.Ticks << Math.Min(old.Count, 10)))));
        return p.Until;
    }

    public void Clear(string route) => _routes.TryRemove(route, out _);

    /// <summary>Penalized routes and until when, for <c>smtpctl show routes</c>.</summary>
    public IReadOnlyDictionary<string, (int Count, DateTimeOffset Until)> Snapshot() => new Dictionary<string, (int, DateTimeOffset)>(_routes);
}
