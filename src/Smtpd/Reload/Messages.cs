namespace Smtpd.Reload;

/// <summary>Messages the daemon itself (OpenSMTPD's parent) receives.</summary>
public abstract record ParentMessage;

/// <summary>
/// <c>smtpctl reload</c> or SIGHUP: read and check the configuration again and, if it is good,
/// put it in force. Answered with what happened, errors as <c>file:line: message</c>.
/// </summary>
public sealed record ParentReload(BusReply<ReloadResult> Reply) : ParentMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}

/// <summary>The outcome of a reload: in force, or refused with every error found (nothing changed).</summary>
public sealed record ReloadResult(bool Reloaded, IReadOnlyList<string> Lines);
