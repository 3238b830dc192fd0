namespace Smtpd.Control;

/// <summary>
/// How smtpctl and the daemon talk over the control socket: the client sends one line, the
/// command's words ("show queue", "remove 1234abcd"); the daemon answers with the lines smtpctl
/// prints (those for standard error marked with <see cref="ErrorPrefix"/>) and a last line
/// <see cref="ExitPrefix"/>N with smtpctl's exit status. "enqueue" turns
/// the connection into an SMTP session for local submission (smtpctl sendmail).
/// </summary>
public static class ControlProtocol
{
    public const string ExitPrefix = "\u0001exit ";
    /// <summary>A line smtpctl prints on standard error rather than standard output.</summary>
    public const string ErrorPrefix = "\u0002";
    public const string Enqueue = "enqueue";
    public const int MaxRequest = 4096;
}
