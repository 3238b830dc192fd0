namespace Smtpd;

/// <summary>
/// Everything smtpd takes from outside smtpd.conf: the environment (<c>SMTPD_*</c>) and the
/// backends of <c>-B</c>. Built once, in the smtpd program (<see cref="FromEnvironment"/>), and
/// handed to the components by their constructors: no component reads the environment, so a test
/// builds any setup from a dictionary and a reload re-reads nothing but smtpd.conf.
/// The defaults are production's; the variables that only tests need say so in the README table.
/// </summary>
public sealed partial record SmtpdSettings
{
    public static readonly SmtpdSettings Default = new();

    /// <summary>SMTPD_SPOOL, SMTPD_SOCKET, SMTPD_MAILSPOOL (and XDG_STATE_HOME for a normal user).</summary>
    public SmtpdPaths? Paths { get; init; }

    /// <summary>SMTPD_PORT: the port of listeners that name none; null: 25 as root, 2525 for a normal user.</summary>
    public int? Port { get; init; }

    /// <summary>SMTPD_MTA_PORT: the port of MX hosts (tests run their peers on free ports).</summary>
    public int MxPort { get; init; } = 25;

    /// <summary>SMTPD_MTA_TIMEOUT: how long a relay session may wait for its peer (RFC 5321: 5 min).</summary>
    public TimeSpan MtaTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>SMTPD_TLS_HANDSHAKE_TIMEOUT: how long a client's TLS handshake may take (OpenSMTPD has no knob).</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>SMTPD_SESSION_TIMEOUT: how long a client may stay silent between commands (OpenSMTPD's 5 min).</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>SMTPD_ADMIN_SAMPLE_INTERVAL (test knob): how often the admin page's graphs sample the statistics (a minute).</summary>
    public TimeSpan AdminSampleInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>SMTPD_TLSRPT_PERIOD (test knob): how often TLS-RPT aggregate reports are sent; null: for each UTC day (RFC 8460 4.1).</summary>
    public TimeSpan? TlsRptPeriod { get; init; }

    /// <summary>SMTPD_FILTER_TIMEOUT: how long a filter may take to register, answer or give a message back (OpenSMTPD waits forever).</summary>
    public TimeSpan FilterTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>SMTPD_SPOOL_MINFREE: bytes the spool keeps free (Postfix's queue_minfree).</summary>
    public long SpoolMinFree { get; init; } = 4L << 20;

    /// <summary>SMTPD_FD_RESERVE: descriptors kept free; null: an eighth of the limit, 32 to 256.</summary>
    public int? DescriptorReserve { get; init; }

    /// <summary>SMTPD_CERTDIR: where the seed grammar's <c>certificate NAME</c> finds NAME.crt and NAME.key.</summary>
    public string CertificateDirectory { get; init; } = Smtp.Tls.CertificateFiles.DefaultDirectory;

    /// <summary>SMTPD_LIBEXEC: where <c>table NAME TYPE:config</c> finds table-TYPE (OpenSMTPD's PATH_LIBEXEC).</summary>
    public string LibexecDirectory { get; init; } = "/usr/libexec/opensmtpd";

    /// <summary>SMTPD_RESOLVER: <c>ADDRESS[:PORT]</c> of the one name server to ask instead of resolv.conf's; checked when the daemon starts.</summary>
    public string? Resolver { get; init; }

    /// <summary>SMTPD_CHAOS: fault injection for tests (<see cref="Chaos.ChaosSettings"/>); null: off unless <c>-T chaos</c>.</summary>
    public string? Chaos { get; init; }

    /// <summary>SMTPD_USER: the user the daemon becomes when started as root.</summary>
    public string User { get; init; } = "_smtpd";

    /// <summary><c>-B queue=…,scheduler=…,stat=…</c> (SMTPD_QUEUE_BACKEND, SMTPD_SCHEDULER_BACKEND, SMTPD_STATS for tests).</summary>
    public Backends Backends { get; init; } = new();

    /// <summary>Each value that differs from the default, as <c>NAME=value</c>, in the order read: what the start logs.</summary>
    public IReadOnlyList<string> NonDefault { get; init; } = [];

    /// <summary>The port for listeners that name none.</summary>
    public int DefaultPort(bool privileged) => Port ?? (privileged ? 25 : 2525);
}
