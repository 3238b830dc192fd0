namespace Smtpd;

/// <summary>
/// Where smtpd keeps things. As root: OpenSMTPD's paths. As a normal user: a state directory of
/// that user's (<c>$XDG_STATE_HOME/smtpd</c>, by default <c>~/.local/state/smtpd</c>).
/// <c>SMTPD_SPOOL</c>, <c>SMTPD_SOCKET</c> and <c>SMTPD_MAILSPOOL</c> override, so that any test
/// or user can run an instance of its own. smtpd and smtpctl resolve them the same way.
/// </summary>
public sealed record SmtpdPaths(string Spool, string ControlSocket, string MailSpool)
{
    public static SmtpdPaths FromEnvironment(bool privileged)
    {
        string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

        string state = privileged ? "/var/spool/smtpd" : UserStateDirectory();
        return new SmtpdPaths(
            Spool: Env("SMTPD_SPOOL") ?? (privileged ? "/var/spool/smtpd" : Path.Combine(state, "spool")),
            ControlSocket: Env("SMTPD_SOCKET") ?? (privileged ? "/var/run/smtpd.sock" : Path.Combine(state, "smtpd.sock")),
            MailSpool: Env("SMTPD_MAILSPOOL") ?? "/var/mail");
    }

    public static string UserStateDirectory()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(home, ".local", "state") : xdg, "smtpd");
    }
}
