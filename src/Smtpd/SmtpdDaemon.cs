using Smtpd.Config;
using Smtpd.Lookup;
using Smtpd.Mda;
using Smtpd.Mta;
using Smtpd.Queue;
using Smtpd.Scheduler;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd;

/// <summary>
/// Puts the components together (OpenSMTPD's parent process): opens the queue, loads it into
/// the scheduler, binds the listeners, and only then starts accepting, so that no component
/// serves before the others are ready. Stopping cancels everything and waits for it.
/// </summary>
public sealed partial class SmtpdDaemon : IAsyncDisposable
{
    readonly CancellationTokenSource _stop = new();
    // The queue stops last: it records the outcomes of deliveries that finish during shutdown.
    readonly CancellationTokenSource _stopQueue = new();
    Task? _mdaRunning, _mtaRunning, _queueRunning;
    readonly TimeProvider _time;
    readonly List<Task> _running = [];
    readonly SmtpdLog _log;
    readonly IQueueBackend _queue;
    readonly Bus _bus = new();
    readonly SmtpServer _smtp;
    readonly QueueProcess _queueProcess;
    readonly SchedulerProcess _scheduler;
    readonly MdaProcess _mda;
    readonly MtaProcess _mta;
    readonly Smtpd.Mta.TlsPolicy.Rpt.TlsRptReporter _tlsRpt;
    readonly Smtpd.Bounce.BounceProcess _bounce;
    readonly Smtpd.Lookup.LookupProcess _lookup;
    readonly Smtpd.Control.ControlServer _control;
    FileStream? _spoolLock;
    readonly Reload.LiveConfig _live;
    readonly SmtpContext _sessionContext;
    readonly LocalUsers _users = new();
    readonly Chaos.ChaosMonkey? _chaos;
    readonly DescriptorReserve _descriptors;

    readonly Privsep.PrivilegedClient? _helper;
    readonly SystemUser? _runAs;
    readonly DeliveryWorkerPool? _workers;
    readonly SmtpdSettings _settings;

    /// <param name="settings">What the environment and <c>-B</c> chose; null: the defaults.</param>
    /// <param name="helper">Started as root: the privileged helper, and <paramref name="runAs"/> the
    /// user (<c>_smtpd</c>) the daemon becomes once its ports are bound. Null: everything runs as we are.</param>
    public SmtpdDaemon(Ruleset ruleset, SmtpdPaths paths, SmtpdLog log, TimeProvider? time = null,
        Privsep.PrivilegedClient? helper = null, SystemUser? runAs = null, Chaos.ChaosMonkey? chaos = null, SmtpdSettings? settings = null)
        : this(new Reload.CheckedConfig(ruleset, ListenerSetup.LoadAll(ruleset), RelayCas.Load(ruleset), []), paths, log, time, helper, runAs, chaos, settings)
    {
    }

    /// <param name="config">The configuration, checked as <c>smtpd -n</c> checks it.</param>
    public SmtpdDaemon(Reload.CheckedConfig config, SmtpdPaths paths, SmtpdLog log, TimeProvider? time = null,
        Privsep.PrivilegedClient? helper = null, SystemUser? runAs = null, Chaos.ChaosMonkey? chaos = null, SmtpdSettings? settings = null)
    {
        var ruleset = config.Ruleset;
        _chaos = chaos;
        time ??= TimeProvider.System;
        _time = time;
        var s = _settings = settings ?? SmtpdSettings.Default;
        _log = log;
        _helper = helper;
        _runAs = runAs;
        if (helper is not null) _workers = new DeliveryWorkerPool(helper, time);
        Paths = paths;
        _bus.Stats = WithMetrics(StatBackend(s.Backends, paths), ruleset, s.Backends.Queue is "ram" or "null" ? null : paths.Spool);
        if (chaos is not null)
        {
            if (Chaos.ChaosMonkey.Refusal(paths.Spool) is { } refusal) throw new InvalidOperationException(refusal);
            _bus.Chaos = chaos;
            chaos.OnFailure = point => log.Info($"chaos: injected failure at {point}");
            log.Warn($"chaos mode is ON ({chaos}): faults are injected on purpose; never run this in production");
        }
        _adminCertificate = config.AdminCertificate;
        var first = BuildGeneration(1, config);
        _live = new Reload.LiveConfig(first);
        _lookup = new Smtpd.Lookup.LookupProcess(_live, _bus, log);
        _queue = s.Backends.Queue switch
        {
            "ram" => new RamQueue(),
            "null" => new NullQueue(),
            _ => new FsQueue(paths.Spool, Codec(ruleset, paths), time),
        };
        if (chaos is not null) _queue = new Chaos.ChaosQueue(_queue, chaos);
        _queueProcess = new QueueProcess(_queue, _bus, time, log)
        {
            WarnIntervals = () => _live.Current.Ruleset.BounceWarnIntervals,
            TransportOf = e => e.Type == Queue.EnvelopeType.Mta ? "mta"
                : _live.Current.Ruleset.Actions.TryGetValue(e.Dispatcher, out var a) && a.Method == DeliveryMethod.Lmtp ? "lmtp" : "mda",
        };
        ISchedulerBackend schedulerBackend = s.Backends.Scheduler is "null" ? new NullScheduler() : new RamScheduler();
        _scheduler = new SchedulerProcess(schedulerBackend, _bus, time, log);
        _mda = new MdaProcess(_live, paths, _users, _queue, _bus, time, log, _workers);
        // One resolver for MX lookups and for clients' names (sessions, filters, rules).
        Smtpd.Lookup.Dns.IDnsResolver dns = Smtpd.Lookup.Dns.DnsResolver.FromSetting(s.Resolver, log);
        if (chaos is not null) dns = new Chaos.ChaosDns(dns, chaos);
        dns = WithMetrics(dns, time);
        // TLS-RPT: the MTA records what each TLS policy met; the reporter sends when tls-rpt is on.
        var tlsReports = new Smtpd.Mta.TlsPolicy.Rpt.TlsRptRecorder();
        _mta = new MtaProcess(_live, dns, _queue, _bus, time, log, s) { TlsReports = tlsReports };
        _tlsRpt = new Smtpd.Mta.TlsPolicy.Rpt.TlsRptReporter(_live, _queueProcess.Enqueue, dns, tlsReports, time, log, s.TlsRptPeriod,
            state: s.Backends.Queue is "ram" or "null" ? null : Path.Combine(paths.Spool, "tls-rpt.json"));
        _bus.Stats.Gauge(Smtpd.Stats.StatKeys.MtaSession, () => _mta.OpenSessions);
        _bus.Stats.Gauge(Smtpd.Stats.StatKeys.MtaEnvelope, () => _mta.Envelopes);
        _bounce = new Smtpd.Bounce.BounceProcess(_live, _queueProcess.Enqueue, _bus, time, log);
        var descriptors = _descriptors = DescriptorReserve.ForThisProcess(s.DescriptorReserve);
        _metrics?.CountHeldAccepts(() => descriptors.Refusals);
        _sessionContext = new SmtpContext
        {
            Ruleset = ruleset,
            Recipients = first.Recipients,
            Queue = _queueProcess.Enqueue,
            Bus = _bus,
            Log = log,
            Time = time,
            Tables = first.Tables,
            Authenticator = first.Authenticator,
            LocalAddresses = ListenerAddresses.OwnAddresses(),
            TlsHandshakeTimeout = s.TlsHandshakeTimeout,
            CommandTimeout = s.SessionTimeout,
            Descriptors = descriptors,
            SpoolHasRoom = _queue switch
            {
                FsQueue fs => size => fs.HasRoom(size, s.SpoolMinFree),
                Chaos.ChaosQueue => size => SpoolSpace.HasRoom(paths.Spool, size, s.SpoolMinFree),
                _ => null,
            },
            Filters = first.Filters,
            Names = dns,
        };
        _smtp = new SmtpServer(_sessionContext, first, config.Listeners);
        var controlContext = new Smtpd.Control.ControlContext(_bus, log, time.GetUtcNow()) { Descriptors = descriptors, Time = time };
        _control = new Smtpd.Control.ControlServer(paths.ControlSocket, controlContext, _smtp.RunLocalSessionAsync);
        _controlContext = controlContext;
    }

    /// <summary>
    /// What a configuration's sessions and deliveries use: its tables, recipient resolution,
    /// authentication and filters (started later: after the privilege drop at start, before the
    /// swap on reload).
    /// </summary>
    Reload.ConfigGeneration BuildGeneration(int number, Reload.CheckedConfig config)
    {
        var ruleset = config.Ruleset;
        var tables = new TableSet(ruleset, _chaos);
        var matcher = new RuleMatcher(ruleset, tables, new LocalNames(ruleset.Hostname));
        var helper = _helper;
        var recipients = new RecipientResolver(ruleset, matcher, _users.AcceptsMailFor, tables, _users.Get,
            helper is null ? null : (user, ct) => helper.ReadForwardAsync(user.Name, ct));
        var authenticator = new Smtpd.Smtp.Auth.Authenticator(tables, helper is null ? null : helper.AuthenticateAsync);
        var filters = ruleset.Filters.Count > 0 ? new Smtpd.Filter.FilterHost(ruleset, tables, _log, _settings.FilterTimeout, _time, config.Files) { Stats = _bus.Stats } : null;
        return new Reload.ConfigGeneration(number, config, tables, recipients, authenticator, filters);
    }

    /// <summary>
    /// <c>-B stat=sqlite</c> keeps statistics in SPOOL/stats.sqlite across restarts;
    /// the default (ram) forgets them (smtpd.conf has no keyword for it).
    /// </summary>
    static Smtpd.Stats.IStatBackend StatBackend(Backends backends, SmtpdPaths paths) =>
        backends.Stat is "sqlite"
            ? new Smtpd.Stats.SqliteStatBackend(Path.Combine(EnsureDirectory(paths.Spool), "stats.sqlite"))
            : new Smtpd.Stats.RamStatBackend();

    static string EnsureDirectory(string dir)
    {
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// <c>queue compress</c> and <c>queue encrypt KEY</c> (a key of "stdin" or none is read from
    /// standard input, as OpenSMTPD asks for it).
    /// </summary>
    /// <exception cref="InvalidOperationException">The key does not open this queue.</exception>
    static QueueCodec Codec(Ruleset ruleset, SmtpdPaths paths)
    {
        if (!ruleset.QueueEncryption) return new QueueCodec(ruleset.QueueCompression, null);
        string? secret = ruleset.QueueEncryptionKey;
        if (secret is null or "stdin") secret = Console.In.ReadLine();
        if (string.IsNullOrEmpty(secret)) throw new InvalidOperationException("queue encrypt: no key given");
        return new QueueCodec(ruleset.QueueCompression, QueueKey.Open(EnsureDirectory(paths.Spool), secret));
    }

    /// <summary>The configuration in force (the first one until a reload).</summary>
    public Ruleset Ruleset => _live.Current.Ruleset;
    public SmtpdPaths Paths { get; }
    public IEnumerable<System.Net.IPEndPoint> Endpoints => _smtp.Endpoints;

    /// <summary>
    /// Port for listeners that name none: 25 as root, 2525 for a normal user; <c>SMTPD_PORT</c>
    /// overrides it (so that tests and several unprivileged instances can coexist).
    /// </summary>
    public int DefaultPort => _settings.DefaultPort(LocalUsers.IsRoot);

    public async Task StartAsync()
    {
        // Lock before Init: Init purges incoming/, which another running daemon may be using.
        // 0711 as OpenSMTPD's spool: others may reach offline/ (1777) but list nothing; the queue
        // directories inside stay 0700.
        Directory.CreateDirectory(Paths.Spool);
        File.SetUnixFileMode(Paths.Spool, Queue.SpoolModes.Root);
        _spoolLock = LockSpool(Paths.Spool);
        _queue.Init();
        int loaded = await _queueProcess.LoadAsync(_stop.Token);
        _smtp.Bind(DefaultPort);
        _control.Bind();
        BindMetrics();
        BindAdmin();
        string offline = Smtpd.Control.OfflineQueue.Directory(Paths.Spool);
        Directory.CreateDirectory(offline);
        File.SetUnixFileMode(offline, Queue.SpoolModes.OfflineDirectory);
        if (_runAs is not null) DropPrivileges(_runAs);
        // Filters run as the daemon's user, and are running and registered before the first
        // client (lka_proc_ready).
        if (_live.Current.Filters is { } filters) await filters.StartAsync();
        _running.Add(_scheduler.RunAsync(_stop.Token));
        _running.Add(_queueRunning = _queueProcess.RunAsync(_stopQueue.Token));
        _running.Add(_mdaRunning = _mda.RunAsync(_stop.Token));
        _running.Add(_mtaRunning = _mta.RunAsync(_stop.Token));
        _running.Add(_bounce.RunAsync(_stop.Token));
        _running.Add(_tlsRpt.RunAsync(_stop.Token));
        _running.Add(_lookup.RunAsync(_stop.Token));
        _running.Add(_control.RunAsync(_stop.Token));
        _running.Add(RunParentAsync(_stop.Token));
        _running.Add(new IdleMemoryTrim(_time, _log).RunAsync(_stop.Token));
        _running.Add(_smtp.RunAsync(_stop.Token));
        StartMetrics();
        StartAdmin();
        // Anyone may leave mail in offline/ (sticky, like /tmp); we pick it up now and whenever a
        // file appears, through the helper when we gave up root (the files belong to their senders).
        Func<bool, Task> flushOffline = _helper is { } helper
            ? recover => helper.FlushOfflineAsync(recover)
            : recover => Smtpd.Control.OfflineQueue.FlushAsync(Paths.Spool, Paths.ControlSocket, _log, recover, _stop.Token);
        _running.Add(Task.Run(() => new Smtpd.Control.OfflineWatcher(offline, flushOffline, _log).RunAsync(_stop.Token)));
        _log.Info($"info: file descriptors: limit {_descriptors.Limit}, {_descriptors.Reserve} kept in reserve ({_descriptors.MessageFiles} of them for messages being received)");
        _log.Info($"info: OpenSMTPD-compatible smtpd starting; {loaded} envelope(s) in queue; listening on {string.Join(", ", _smtp.Endpoints)}");
    }

    /// <summary>
    /// Privilege separation (DESIGN.md "Privileges"): ports, certificates, the control socket and
    /// the spool lock are open; from here on the daemon, the part that speaks to the network,
    /// runs as <paramref name="user"/> and owns its spool. Root stays with the helper only.
    /// </summary>
    void DropPrivileges(SystemUser user)
    {
        // offline/ files keep their owners: the owner is who the mail is from (smtpd.c offline_enqueue).
        Privsep.Identity.ChownTree(Paths.Spool, user.Uid, user.Gid, keepOwners: Smtpd.Control.OfflineQueue.Directory(Paths.Spool));
        Privsep.ChildProcess.PreloadAssemblies();
        Privsep.Identity.Become(user.Uid, user.Gid, [user.Gid]);
        _log.Info($"info: running as {user.Name} (uid {user.Uid}); privileged helper is pid {_helper?.HelperPid}");
    }

    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested) return;
        // In order, each loop awaited rather than polled: the listeners stop taking mail (sessions
        // get 421), the scheduler hands out nothing more, deliveries and relays under way finish or
        // give up (MdaProcess.DrainTime; the MTA bounds its own wait) and post their outcomes to
        // the queue; then the queue's channel is completed, so that the queue writes down all it
        // was told and its loop ends. It is cancelled only if it cannot get there in time.
        _stop.Cancel();
        await _smtp.DisposeAsync();
        await WithinAsync(_mdaRunning, MdaProcess.DrainTime + TimeSpan.FromSeconds(2));
        await WithinAsync(_mtaRunning, TimeSpan.FromSeconds(10));
        _bus.Queue.Writer.TryComplete();
        if (!await WithinAsync(_queueRunning, TimeSpan.FromSeconds(10))) _log.Warn("queue did not write down the last outcomes within 10 s");
        _stopQueue.Cancel();
        if (_live.Current.Filters is { } filters) await filters.DisposeAsync();
        try { await Task.WhenAll(_running).WaitAsync(TimeSpan.FromSeconds(10), _time); }
        catch (OperationCanceledException) { }
        catch (TimeoutException) { _log.Warn("some components did not stop within 10 s"); }
        _log.Info("info: smtpd exiting");
    }

    /// <summary>Waits, on the daemon's clock, for a component's loop to end; false if it did not in time.</summary>
    async Task<bool> WithinAsync(Task? loop, TimeSpan limit)
    {
        if (loop is null) return true;
        try { await loop.WaitAsync(limit, _time); }
        catch (TimeoutException) { return false; }
        catch (OperationCanceledException) { }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _control.Dispose();
        _metricsServer?.Dispose();
        _adminServer?.Dispose();
        _workers?.Dispose();
        _helper?.Dispose();
        _bus.Stats.Dispose();
        _spoolLock?.Dispose();
        _stop.Dispose();
        _stopQueue.Dispose();
    }

    /// <summary>
    /// One daemon per spool: two would deliver the same envelopes twice. The lock (flock(2),
    /// taken here explicitly: the executable turns off the one .NET takes for every FileShare)
    /// dies with the process, so a crash never leaves it stale.
    /// </summary>
    static FileStream LockSpool(string spool)
    {
        string path = Path.Combine(spool, "smtpd.lock");
        FileStream lockFile;
        try
        {
            // Where .NET's own lock is on (a test host), it is the one that refuses.
            lockFile = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None, UnixCreateMode = Queue.SpoolModes.File,
            });
        }
        catch (IOException) { throw InUse(spool); }
        if (!FileLock.TryLockExclusive(lockFile.SafeFileHandle))
        {
            lockFile.Dispose();
            throw InUse(spool);
        }
        lockFile.SetLength(0);
        lockFile.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
        lockFile.Flush();
        return lockFile;
    }

    static InvalidOperationException InUse(string spool) => new($"another smtpd is already using the spool {spool}");
}
