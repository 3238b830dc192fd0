namespace Smtpd.Filter;

/// <summary>The phases a filter may register for (lka_filter.c's filter_execs).</summary>
public enum FilterPhase { Connect, Helo, Ehlo, StartTls, Auth, MailFrom, RcptTo, Data, DataLine, Rset, Quit, Noop, Help, Wiz, Commit }

public static class FilterPhases
{
    static readonly string[] Names =
        ["connect", "helo", "ehlo", "starttls", "auth", "mail-from", "rcpt-to", "data", "data-line", "rset", "quit", "noop", "help", "wiz", "commit"];

    /// <summary>The name in filter requests (<c>filter|0.7|...|smtp-in|NAME|...</c>).</summary>
    public static string Name(this FilterPhase phase) => Names[(int)phase];

    public static bool TryParse(string name, out FilterPhase phase)
    {
        int i = Array.IndexOf(Names, name);
        phase = (FilterPhase)Math.Max(i, 0);
        return i >= 0;
    }

    /// <summary>The name in filter-response reports, which differs for two phases (lka_report.c).</summary>
    public static string ReportName(this FilterPhase phase) => phase switch
    {
        FilterPhase.Connect => "connected",
        FilterPhase.StartTls => "tls",
        _ => phase.Name(),
    };

    /// <summary>The report events of smtp-in (smtpd-filters(7)).</summary>
    public static readonly IReadOnlySet<string> ReportEvents = new HashSet<string>(StringComparer.Ordinal)
    {
        "link-connect", "link-disconnect", "link-greeting", "link-identify", "link-tls", "link-auth",
        "tx-reset", "tx-begin", "tx-mail", "tx-rcpt", "tx-envelope", "tx-data", "tx-commit", "tx-rollback",
        "protocol-client", "protocol-server", "filter-report", "filter-response", "timeout",
    };
}
