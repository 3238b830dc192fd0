namespace Smtpd.Config;

/// <summary>What a <see cref="MatchCondition"/> tests, beyond a rule's from and for.</summary>
public enum MatchKind
{
    /// <summary>The listener's tag is in the table (when negated or a regex; else Rule.Tag).</summary>
    Tag,
    /// <summary>The HELO/EHLO name is in the table.</summary>
    Helo,
    /// <summary>The session is authenticated (as a user in the table, when one is given).</summary>
    Auth,
    /// <summary>MAIL FROM is in the table.</summary>
    MailFrom,
    /// <summary>RCPT TO is in the table.</summary>
    RcptTo,
    /// <summary>The session uses TLS.</summary>
    Tls,
}
