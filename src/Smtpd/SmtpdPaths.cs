namespace Smtpd;

/// <summary>
/// Where smtpd keeps things. As root: OpenSMTPD's paths. As a normal user: a state directory of
/// that user's (<c>$XDG_STATE_HOME/smtpd</c>, by default <c>~/.local/state/smtpd</c>).
/// <c>SMTPD_SPOOL</c>, <c>SMTPD_SOCKET</c> and <c>SMTPD_MAILSPOOL</c> override, so that any test
/// or user can run an instance of its own. smtpd (<see cref="ForDaemon"/>) and its clients,
/// smtpctl and sendmail (<see cref="ForClient"/>), resolve them here and nowhere else.
/// </summary>
public sealed record SmtpdPaths(string Spool, string ControlSocket, string MailSpool)
{
    /// <summary>The paths smtpd uses when the current user starts it.</summary>
    /// <param name="variable">The environment (smtpd reads it once, into <see cref="SmtpdSettings"/>).</param>
    public static SmtpdPaths ForDaemon(Func<string, string?> variable) => FromEnvironment(variable, privileged: Mda.SystemUsers.IsRoot);

    /// <summary>
    /// The daemon smtpctl and sendmail talk to: the one the current user would start, with the
    /// same paths as <see cref="ForDaemon"/>, once that user has one (its spool exists: smtpd
    /// made it), running or not; else, for a normal user who never ran smtpd, the system's, so
    /// that mail programs reach the machine's smtpd. Mail for a daemon that is not running goes to
    /// the offline/ of the spool this returns, where that daemon will find it.
    /// </summary>
    public static SmtpdPaths ForClient(Func<string, string?> variable)
    {
        var own = ForDaemon(variable);
        if (Mda.SystemUsers.IsRoot || Directory.Exists(own.Spool)) return own;
        return FromEnvironment(variable, privileged: true);
    }

    public static SmtpdPaths FromEnvironment(Func<string, string?> variable, bool privileged)
    {
        string? Env(string name) => variable(name) is { Length: > 0 } v ? v : null;

        string state = privileged ? "/var/spool/smtpd" : UserStateDirectory(variable);
        return new SmtpdPaths(
            Spool: Env("SMTPD_SPOOL") ?? (privileged ? "/var/spool/smtpd" : Path.Combine(state, "spool")),
            ControlSocket: Env("SMTPD_SOCKET") ?? (privileged ? "/var/run/smtpd.sock" : Path.Combine(state, "smtpd.sock")),
            MailSpool: Env("SMTPD_MAILSPOOL") ?? "/var/mail");
    }

    public static string UserStateDirectory(Func<string, string?> variable)
    {
        string? xdg = variable("XDG_STATE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(home, ".local", "state") : xdg, "smtpd");
    }
}
