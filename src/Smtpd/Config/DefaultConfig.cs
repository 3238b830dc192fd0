namespace Smtpd.Config;

/// <summary>
/// The configuration used when there is no smtpd.conf: the seed's "minimalist setup" — listen on
/// localhost, deliver local mail, relay for any destination only from local clients. As root
/// local mail goes to mbox (/var/mail/USER); as a normal user, to ~/Maildir (no /var/mail access).
/// </summary>
public static class DefaultConfig
{
    public static string Text(bool privileged) => $"""
        # Embedded default configuration (the "minimalist setup").
        listen on localhost

        action "local" {(privileged ? "mbox" : "maildir \"~/Maildir\"")}
        action "relay" relay

        match from local for local action "local"
        match from local for any action "relay"
        """;
}
