using System.Net;

namespace Smtpd.Mta;

/// <summary>
/// One entry of <c>smtpctl show routes</c>, as the MTA sees it at one instant: a next-hop address
/// (<see cref="Address"/> set) or a route, an action and domain the MTA penalized after failures in
/// a row (<see cref="Domain"/> and <see cref="Action"/> set). <see cref="Line"/> is OpenSMTPD's
/// text; the control component renders the same record as JSON.
/// </summary>
public sealed record RouteState(
    ulong Id,
    IPAddress? Address,
    string? ReverseName,
    string? Domain,
    string? Action,
    bool NeverConnected,
    bool Disabled,
    bool Waiting,
    bool Idle,
    int Connections,
    int Errors,
    int Penalty,
    TimeSpan? Timeout)
{
    /// <summary>
    /// "[]" is the source address (none chosen); flags N never connected, D disabled, Q sessions
    /// waiting, K none open now; timeout is the time until usable again.
    /// </summary>
    public string Line()
    {
        string flags = $"{(NeverConnected ? 'N' : '-')}{(Disabled ? 'D' : '-')}{(Waiting ? 'Q' : '-')}{(Idle ? 'K' : '-')}";
        string target = Address is { } a
            ? string.IsNullOrEmpty(ReverseName) ? $"{a}" : $"{a} ({ReverseName})"
            : $"{Domain} (action {Action})";
        string timeout = Timeout is { } t ? Durations.Format(t) : "-";
        return $"{Id}. [] <-> {target} {flags} nconn={Connections} nerror={Errors} penalty={Penalty} timeout={timeout}";
    }
}
