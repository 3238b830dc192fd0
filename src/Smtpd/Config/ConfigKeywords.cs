namespace Smtpd.Config;

/// <summary>
/// Reserved words of both grammars. As in OpenSMTPD, an unquoted reserved word is never taken as a
/// value (a table name, a path, a host): <c>action relay relay</c> is an error, <c>action "relay" relay</c>
/// is not. This is what lets optional arguments (<c>maildir [PATH]</c>) be told from the next keyword.
/// </summary>
internal static class ConfigKeywords
{
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        // OpenSMTPD 6.4+ (parse.y keyword table).
        "action", "admd", "alias", "any", "auth", "auth-optional", "backup", "bounce", "bypass", "ca",
        "cert", "chain", "chroot", "ciphers", "commit", "compression", "connect", "data", "data-line",
        "dhe", "disconnect", "domain", "ehlo", "encryption", "expand-only", "fcrdns", "filter", "for",
        "forward-only", "from", "group", "helo", "helo-src", "host", "hostname", "hostnames", "include",
        "inet4", "inet6", "junk", "key", "limit", "listen", "lmtp", "local", "mail-from", "maildir",
        "mask-src", "masquerade", "match", "max-deferred", "max-message-size", "mbox", "mda", "mta", "mx",
        "no-dsn", "no-verify", "noop", "on", "phase", "pki", "port", "proc", "proc-exec", "protocols",
        "proxy-v2", "queue", "quit", "rcpt-to", "rdns", "received-auth", "recipient", "regex", "reject",
        "relay", "report", "rewrite", "rset", "scheduler", "senders", "smtp", "smtp-in", "smtp-out",
        "smtps", "socket", "src", "srs", "sub-addr-delim", "table", "tag", "tagged", "tls", "tls-require",
        "ttl", "user", "userbase", "verify", "virtual", "warn-interval", "wrapper",
        // OpenSMTPD 5.x, the seed grammar.
        "accept", "deliver", "to", "via", "expire", "certificate", "source", "sender", "as", "ssl",
        "bounce-warn", "compress", "encrypt",
    };

    public static bool IsReserved(string word) => Reserved.Contains(word);
}
