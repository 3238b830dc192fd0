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
