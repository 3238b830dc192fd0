namespace Smtpd.Config;

/// <summary>
/// The configuration used when no smtpd.conf exists: the seed's "minimalist setup" in the modern
/// grammar. Listen on the loopback only, deliver local mail, relay for any destination but only from
/// local senders, so that the default is never an open relay. Unprivileged, mail goes to ~/Maildir
/// since an mbox in the system spool cannot be written as a normal user.
/// </summary>
public static class DefaultConfig
{
    public const string FileName = "(default)";

    public static string Text(bool privileged) => $"""
        # Built-in configuration of smtpd for .NET, used when no smtpd.conf exists.
        listen on localhost

        action "local" {(privileged ? "mbox" : "maildir")}
        action "relay" relay

        match from local for local action "local"
        match from local for any action "relay"

        """;

    /// <summary>The default configuration, compiled.</summary>
    public static Ruleset Compile(bool privileged) => ConfigParser.Parse(Text(privileged), FileName);
}
