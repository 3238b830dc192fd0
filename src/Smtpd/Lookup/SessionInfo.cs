using System.Net;

namespace Smtpd.Lookup;

/// <summary>What rule matching needs to know of the SMTP session a recipient arrives in.</summary>
/// <param name="Local">True for loopback clients and local enqueueing: <c>from local</c>.</param>
/// <param name="Helo">The HELO/EHLO name; <param name="Sender">MAIL FROM ("" for the null sender).</param>
public sealed record SessionInfo(IPAddress? ClientAddress, bool Local, string? ListenerTag, string? AuthUser)
{
    public string Helo { get; init; } = "";
    public string Sender { get; init; } = "";
    public bool Tls { get; init; }
    /// <summary>The client's reverse name (the session's one lookup), null when it has none.</summary>
    public string? Rdns { get; init; }
}
