namespace Smtpd.Tests.SideBySide;

/// <summary>
/// One of the two servers a side-by-side scenario runs against: ours or OpenSMTPD 6.8, each with
/// its own directory laid out the same way (spool, mbox dir, maildirs), the same smtpd.conf, a
/// free loopback port, its log, and its own smtpctl.
/// </summary>
public interface ISideServer : IAsyncDisposable
{
    /// <summary>"ours" or "theirs", as check results name them.</summary>
    string Name { get; }
    string Dir { get; }
    int Port { get; }
    string Spool { get; }
    /// <summary>Where mbox deliveries land (SMTPD_MAILSPOOL for ours, /var/mail bind-mounted for theirs).</summary>
    string MailSpool { get; }
    string Maildirs { get; }
    string Log { get; }

    Task StartAsync();
    Task StopAsync();
    Task WaitForLogAsync(string text, TimeSpan timeout, int count = 1);

    /// <summary>Runs this server's smtpctl (or one of its other names: sendmail, makemap, mailq) with the given arguments and input.</summary>
    Task<(int Code, string Output)> CtlAsync(string name, string stdin, params string[] args);

    Task<(int Code, string Output)> SmtpctlAsync(params string[] args) => CtlAsync("smtpctl", "", args);
}
