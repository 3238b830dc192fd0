using Smtpd.Queue;

namespace Smtpd.Mta;

/// <summary>Messages the relaying component receives.</summary>
public abstract record MtaMessage;

/// <summary>From the queue: relay these envelopes (one message) to their next hop.</summary>
public sealed record MtaTransfer(IReadOnlyList<Envelope> Envelopes) : MtaMessage;
/// <summary>Admin (<c>smtpctl pause|resume mta</c>): while paused, transfers handed here wait.</summary>
public sealed record MtaPause(bool Paused) : MtaMessage;
/// <summary>
/// From the scheduler (<c>smtpctl remove</c>): these envelopes in flight were removed. Nothing more
/// is sent for them, and what comes back for them is discarded. <paramref name="Noted"/> is set
/// once the MTA has noted them.
/// </summary>
public sealed record MtaCancel(IReadOnlyList<ulong> Evpids, BusReply<bool> Noted) : MtaMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Noted;
}
/// <summary>
/// Admin (<c>smtpctl resume route ID</c>, 0 for all): the route or next hop shown with that id by
/// <c>show routes</c> is usable again now, its penalty forgotten.
/// </summary>
public sealed record MtaResumeRoute(ulong Id) : MtaMessage;
/// <summary>
/// Admin (<c>smtpctl show routes|hosts|relays|hoststats</c>): the lines to print, read on the
/// MTA's own loop.
/// </summary>
public sealed record MtaShow(MtaView View, BusReply<IReadOnlyList<string>> Reply) : MtaMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>Admin (<c>smtpctl show routes</c>, as text or JSON): the routes as records, read on the MTA's own loop.</summary>
public sealed record MtaRoutes(BusReply<IReadOnlyList<RouteState>> Reply) : MtaMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
/// <summary>
/// Admin (<c>smtpctl show tls-policy DOMAIN</c>): the TLS policy relaying by MX would apply to
/// the domain now, and where it comes from, as lines to print.
/// </summary>
public sealed record MtaShowTlsPolicy(string Domain, BusReply<IReadOnlyList<string>> Reply) : MtaMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
