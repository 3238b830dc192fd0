namespace Smtpd.Smtp;

/// <summary>Messages the SMTP component receives.</summary>
public abstract record SmtpMessage;

/// <summary>
/// Admin (<c>smtpctl pause|resume smtp</c>): while paused, new clients get 421 and sessions under
/// way go on. Answered once the listeners see it.
/// </summary>
public sealed record SmtpPause(bool Paused, BusReply<bool> Reply) : SmtpMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}

/// <summary>
/// A reload (<c>smtpctl reload</c>, SIGHUP): from now on new sessions get <paramref name="Context"/>
/// under <paramref name="Generation"/>; the listeners of <paramref name="Listeners"/> that were
/// bound already keep their sockets with the new options, the new ones start accepting and the
/// others are closed. Answered with what changed.
/// </summary>
public sealed record SmtpReconfigure(SmtpContext Context, Reload.ConfigGeneration Generation, PreparedListeners Listeners,
    BusReply<ListenerChanges> Reply) : SmtpMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
