using System.Net;

namespace Smtpd.Lookup;

/// <summary>What rule matching needs to know of the SMTP session a recipient arrives in.</summary>
/// <param name="Local">True for loopback clients and local enqueueing: <c>from local</c>.</param>
public sealed record SessionInfo(IPAddress? ClientAddress, bool Local, string? ListenerTag, string? AuthUser);
