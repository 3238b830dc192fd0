using System.Collections.Concurrent;

namespace Smtpd.Mta;

/// <summary>
/// Routes that failed (no next hop reachable, or greylisting) wait before the next attempt:
/// 2 s, then twice as long each time, up to a minute (seed 003: penalties grow). Envelopes are
/// not held here: they go back to the scheduler at once, with the end of the penalty as the
/// time to try again, and a transfer for a route still waiting is handed back untried. Failures
/// reported while the route already waits (other messages that were on their way) do not make
/// the wait longer. A success clears the route's penalty.
/// </summary>
public sealed class RoutePenalties
{
    static readonly TimeSpan First = TimeSpan.FromSeconds(2);
    static readonly TimeSpan Max = TimeSpan.FromMinutes(1);
    readonly ConcurrentDictionary<string, Penalty> _routes = new();

    /// <summary>A route's failures in a row, until when it waits, and since when it fails.</summary>
    public readonly record struct Penalty(int Count, DateTimeOffset Until, DateTimeOffset Since);

    public DateTimeOffset Until(string route) => _routes.TryGetValue(route, out var p) ? p.Until : DateTimeOffset.MinValue;

    /// <summary>Records a failed attempt at <paramref name="now"/>.</summary>
    /// <param name="lengthened">True when this failure made the wait longer (the route was not already waiting).</param>
    public Penalty Penalize(string route, DateTimeOffset now, out bool lengthened)
    {
        bool longer = false;
        var p = _routes.AddOrUpdate(route,
            _ => { longer = true; return new Penalty(1, now + First, now); },
            (_, old) =>
            {
                if (old.Until > now) { longer = false; return old; }
                longer = true;
                return old with { Count = old.Count + 1, Until = now + TimeSpan.FromTicks(Math.Min(Max.Ticks, First.Ticks << Math.Min(old.Count, 10))) };
            });
        lengthened = longer;
        return p;
    }

    public void Clear(string route) => _routes.TryRemove(route, out _);

    /// <summary>Penalized routes and until when, for <c>smtpctl show routes</c>.</summary>
    public IReadOnlyDictionary<string, (int Count, DateTimeOffset Until)> Snapshot() =>
        _routes.ToDictionary(kv => kv.Key, kv => (kv.Value.Count, kv.Value.Until));
}
