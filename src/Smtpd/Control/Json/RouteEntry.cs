using Smtpd.Mta;

namespace Smtpd.Control.Json;

/// <summary>
/// One entry of <c>smtpctl show routes -j</c> (and the admin API's routes), the same
/// <see cref="RouteState"/> <c>show routes</c> prints as OpenSMTPD's line: a next hop
/// (kind "host", with its address) or a route the MTA penalized (kind "route", with domain and action).
/// </summary>
public sealed record RouteEntry
{
    /// <summary>The id <c>smtpctl resume route</c> takes.</summary>
    public required ulong Id { get; init; }
    /// <summary>host or route.</summary>
    public required string Kind { get; init; }
    public required string? Address { get; init; }
    public required string? ReverseName { get; init; }
    public required string? Domain { get; init; }
    public required string? Action { get; init; }
    /// <summary>The flags N, D, Q, K of the human output.</summary>
    public required bool NeverConnected { get; init; }
    public required bool Disabled { get; init; }
    public required bool Waiting { get; init; }
    public required bool Idle { get; init; }
    public required int Connections { get; init; }
    public required int Errors { get; init; }
    public required int Penalty { get; init; }
    /// <summary>Seconds until usable again; null when usable now.</summary>
    public required long? TimeoutSeconds { get; init; }
    public required long? UsableAt { get; init; }
    public required string? UsableAtIso { get; init; }

    public static RouteEntry From(RouteState r, DateTimeOffset now) => new()
    {
        Id = r.Id,
        Kind = r.Address is null ? "route" : "host",
        Address = r.Address?.ToString(),
        ReverseName = string.IsNullOrEmpty(r.ReverseName) ? null : r.ReverseName,
        Domain = r.Domain,
        Action = r.Action,
        NeverConnected = r.NeverConnected,
        Disabled = r.Disabled,
        Waiting = r.Waiting,
        Idle = r.Idle,
        Connections = r.Connections,
        Errors = r.Errors,
        Penalty = r.Penalty,
        TimeoutSeconds = r.Timeout is { } t ? (long)Math.Max(0, t.TotalSeconds) : null,
        UsableAt = r.Timeout is { } u ? JsonTime.Unix(now + u) : null,
        UsableAtIso = r.Timeout is { } v ? JsonTime.Iso(now + v) : null,
    };
}

/// <summary><c>show routes -j</c> is one object: the routes in the order of the human output.</summary>
public sealed record RouteList(IReadOnlyList<RouteEntry> Routes);
