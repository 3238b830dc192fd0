namespace Smtpd;

// Reading the settings from SMTPD_* variables. A value that cannot be read leaves the default,
// silently, as each variable always did; only SMTPD_RESOLVER and SMTPD_CHAOS, whose mistakes
// would change where mail goes or what fails, are refused (when the daemon starts).
public sealed partial record SmtpdSettings
{
    /// <summary>The settings an environment gives, every variable read here and nowhere else.</summary>
    /// <param name="variable">The environment: a variable's value, or null when it is not set.</param>
    /// <param name="privileged">Started as root: the system's paths instead of the user's state directory.</param>
    public static SmtpdSettings FromEnvironment(Func<string, string?> variable, bool privileged)
    {
        var nonDefault = new List<string>();
        var d = Default;
        string? Text(string name) => variable(name) is { Length: > 0 } v ? v : null;
        T Take<T>(string name, T? value, T fallback) where T : struct
        {
            if (value is not { } v || EqualityComparer<T>.Default.Equals(v, fallback)) return fallback;
            nonDefault.Add($"{name}={variable(name)}");
            return v;
        }
        string TakeText(string name, string fallback)
        {
            if (Text(name) is not { } v || v == fallback) return fallback;
            nonDefault.Add($"{name}={v}");
            return v;
        }
        int? Port(string name) => int.TryParse(variable(name), out int p) && p is > 0 and < 65536 ? p : null;
        TimeSpan? Seconds(string name) => int.TryParse(variable(name), out int s) && s > 0 ? TimeSpan.FromSeconds(s) : null;

        var paths = SmtpdPaths.FromEnvironment(variable, privileged);
        foreach (string name in (string[])["SMTPD_SPOOL", "SMTPD_SOCKET", "SMTPD_MAILSPOOL"])
            if (Text(name) is { } v) nonDefault.Add($"{name}={v}");
        int? port = Port("SMTPD_PORT");
        if (port is not null) nonDefault.Add($"SMTPD_PORT={variable("SMTPD_PORT")}");
        var settings = new SmtpdSettings
        {
            Paths = paths,
            Port = port,
            MxPort = Take("SMTPD_MTA_PORT", Port("SMTPD_MTA_PORT"), d.MxPort),
            MtaTimeout = Take("SMTPD_MTA_TIMEOUT", Seconds("SMTPD_MTA_TIMEOUT"), d.MtaTimeout),
            TlsRptPeriod = Seconds("SMTPD_TLSRPT_PERIOD"),
            TlsHandshakeTimeout = Take("SMTPD_TLS_HANDSHAKE_TIMEOUT", Seconds("SMTPD_TLS_HANDSHAKE_TIMEOUT"), d.TlsHandshakeTimeout),
            SessionTimeout = Take("SMTPD_SESSION_TIMEOUT", Seconds("SMTPD_SESSION_TIMEOUT"), d.SessionTimeout),
            FilterTimeout = Take("SMTPD_FILTER_TIMEOUT", Seconds("SMTPD_FILTER_TIMEOUT"), d.FilterTimeout),
            AdminSampleInterval = Take("SMTPD_ADMIN_SAMPLE_INTERVAL", Seconds("SMTPD_ADMIN_SAMPLE_INTERVAL"), d.AdminSampleInterval),
            SpoolMinFree = Take("SMTPD_SPOOL_MINFREE", long.TryParse(variable("SMTPD_SPOOL_MINFREE"), out long b) && b >= 0 ? b : null, d.SpoolMinFree),
            DescriptorReserve = int.TryParse(variable("SMTPD_FD_RESERVE"), out int r) && r >= 0 ? r : null,
            CertificateDirectory = TakeText("SMTPD_CERTDIR", d.CertificateDirectory),
            LibexecDirectory = TakeText("SMTPD_LIBEXEC", d.LibexecDirectory),
            User = TakeText("SMTPD_USER", d.User),
            Resolver = string.IsNullOrWhiteSpace(variable("SMTPD_RESOLVER")) ? null : variable("SMTPD_RESOLVER"),
            Chaos = Text("SMTPD_CHAOS"),
            // The test knobs that -B replaces; any other value meant the default, as it always did.
            Backends = new Backends(
                Queue: variable("SMTPD_QUEUE_BACKEND") is "ram" or "null" ? variable("SMTPD_QUEUE_BACKEND")! : d.Backends.Queue,
                Scheduler: variable("SMTPD_SCHEDULER_BACKEND") is "null" ? "null" : d.Backends.Scheduler,
                Stat: variable("SMTPD_STATS") is "sqlite" ? "sqlite" : d.Backends.Stat),
        };
        if (settings.TlsRptPeriod is not null) nonDefault.Add($"SMTPD_TLSRPT_PERIOD={variable("SMTPD_TLSRPT_PERIOD")}");
        if (settings.DescriptorReserve is not null) nonDefault.Add($"SMTPD_FD_RESERVE={variable("SMTPD_FD_RESERVE")}");
        if (settings.Resolver is not null) nonDefault.Add($"SMTPD_RESOLVER={settings.Resolver}");
        if (settings.Chaos is not null) nonDefault.Add($"SMTPD_CHAOS={settings.Chaos}");
        if (settings.Backends.Queue != d.Backends.Queue) nonDefault.Add($"SMTPD_QUEUE_BACKEND={settings.Backends.Queue}");
        if (settings.Backends.Scheduler != d.Backends.Scheduler) nonDefault.Add("SMTPD_SCHEDULER_BACKEND=null");
        if (settings.Backends.Stat != d.Backends.Stat) nonDefault.Add("SMTPD_STATS=sqlite");
        return settings with { NonDefault = nonDefault };
    }

    /// <summary>These settings with the backends of <c>-B</c> arguments, which win over the environment.</summary>
    /// <exception cref="FormatException">An argument names an unknown kind or backend.</exception>
    public SmtpdSettings WithBackends(IEnumerable<string> specs)
    {
        var settings = this;
        foreach (string spec in specs)
        {
            var chosen = settings.Backends.With(spec);
            settings = chosen == Default.Backends ? settings with { Backends = chosen }
                : settings with { Backends = chosen, NonDefault = [.. settings.NonDefault, $"-B {spec}"] };
        }
        return settings;
    }
}
