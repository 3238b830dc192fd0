using System.Net;

namespace Smtpd.Admin;

/// <summary>
/// Slows password guessing at the admin page: after <see cref="MaxFailures"/> failed logins from
/// one client address within <see cref="Window"/>, that address is refused (429, before any
/// password is hashed) until the window that began with its first failure has passed. A success
/// forgets the address's failures. The table is bounded: when full, expired entries are dropped,
/// and if none has expired the new address is refused too (a flood of addresses cannot grow it).
/// </summary>
public sealed class LoginThrottle(TimeProvider time)
{
    public const int MaxFailures = 5;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    const int MaxAddresses = 4096;

    readonly Lock _lock = new();
    readonly Dictionary<IPAddress, (int Count, DateTimeOffset Since)> _failures = new();

    /// <summary>How long the address must still wait; null when it may try.</summary>
    public TimeSpan? Refused(IPAddress client)
    {
        lock (_lock)
        {
            if (!_failures.TryGetValue(client, out var f)) return _failures.Count >= MaxAddresses && !Prune() ? Window : null;
            var left = f.Since + Window - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                _failures.Remove(client);
                return null;
            }
            return f.Count >= MaxFailures ? left : null;
        }
    }

    public void Failed(IPAddress client)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_failures.TryGetValue(client, out var f) && now - f.Since < Window) _failures[client] = (f.Count + 1, f.Since);
            else if (_failures.Count < MaxAddresses || Prune()) _failures[client] = (1, now);
        }
    }

    public void Succeeded(IPAddress client)
    {
        lock (_lock) _failures.Remove(client);
    }

    /// <summary>Drops the expired entries; true when that made room.</summary>
    bool Prune()
    {
        var now = time.GetUtcNow();
        foreach (var (address, f) in _failures)
            if (now - f.Since >= Window) _failures.Remove(address);
        return _failures.Count < MaxAddresses;
    }
}
