using System.Runtime.InteropServices;
using Smtpd;
using Smtpd.Config;
using Smtpd.Daemon;
using Smtpd.Mda;
using Smtpd.Smtp;
using Smtpd.Smtp.Tls;
using Smtpd.Table;

// smtpd: the daemon. Exit codes: 0 ok, 1 configuration or start-up error, 64 usage.
// The same program also plays the two roles of privilege separation, started by the daemon itself.
// The environment is read here and nowhere else (SmtpdSettings); the helper needs the paths and
// what reading smtpd.conf takes from it (SMTPD_CERTDIR, SMTPD_LIBEXEC).
// A SIGHUP meant for the daemon (pkill -HUP smtpd reaches every process of that name) must not
// end a delivery process: only the daemon reloads (the helper ignores it, and more, itself).
if (args is [Smtpd.Privsep.PrivilegedHelper.Flag, ..])
    return Smtpd.Privsep.PrivilegedHelper.Main(args, SmtpdSettings.FromEnvironment(Environment.GetEnvironmentVariable, privileged: true));
if (args is [DeliveryWorker.Flag, ..])
{
    using var ignoreHangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx => ctx.Cancel = true);
    return await DeliveryWorker.MainAsync(args);
}
// What the daemon was started with stays out of the programs it starts (helper, filters, tables, mda commands).
Smtpd.Privsep.InheritedDescriptors.KeepFromChildren();

DaemonOptions options;
try { options = DaemonOptions.Parse(args); }
catch (UsageException ex)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    Console.Error.WriteLine(DaemonOptions.Usage);
    return 64;
}

if (options.Help)
{
    Console.WriteLine(DaemonOptions.Version);
    Console.WriteLine(DaemonOptions.Usage);
    return 0;
}

bool privileged = LocalUsers.IsRoot;
// -B was checked with the other options; it wins over the environment's test knobs.
var settings = SmtpdSettings.FromEnvironment(Environment.GetEnvironmentVariable, privileged).WithBackends(options.Backends);
Smtpd.Reload.CheckedConfig config;
try { config = Smtpd.Reload.CheckedConfig.Load(options.ConfigFile, options.Macros, privileged, settings); }
catch (ConfigException ex)
{
    foreach (var error in ex.Errors) Console.Error.WriteLine(error);
    return 1;
}
var ruleset = config.Ruleset;

// Valid smtpd.conf that uses what this version cannot do yet: -n warns, the daemon refuses to
// start rather than run with a different meaning.
var unsupported = config.Unsupported;
if (options.CheckOnly)
{
    foreach (var u in unsupported) Console.Error.WriteLine($"{u.Location}: warning: {u.Message}");
    Console.WriteLine("configuration OK");
    return 0;
}
if (unsupported.Count > 0)
{
    foreach (var u in unsupported) Console.Error.WriteLine(u);
    return 1;
}

var paths = settings.Paths!;
DescriptorReserve.RaiseSoftLimit();
using var log = new SmtpdLog(options.Foreground, options.Verbose);
// Once, before anything else is said: what this instance runs with that a default one would not.
foreach (string setting in settings.NonDefault) log.Info($"info: setting {setting}");
Smtpd.Chaos.ChaosMonkey? chaos;
try
{
    foreach (string trace in options.Traces.Where(t => t != "chaos"))
    {
        if (!SmtpdLog.Subsystems.Contains(trace)) throw new FormatException($"unknown trace subsystem {trace} (-T chaos, or one of {string.Join(", ", SmtpdLog.Subsystems)})");
        log.SetTrace(trace, true);
    }
    chaos = Smtpd.Chaos.ChaosMonkey.FromSetting(options.Traces.Contains("chaos"), settings.Chaos);
    if (chaos is not null && Smtpd.Chaos.ChaosMonkey.Refusal(paths.Spool) is { } refusal) throw new FormatException(refusal);
}
catch (FormatException ex)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    return 1;
}

// Started as root: the network-facing daemon becomes _smtpd once its ports are bound, and a
// privileged helper keeps root for deliveries, system passwords and .forward files.
// SMTPD_USER names another user for it (OpenSMTPD fixes it when it is built).
string UnprivilegedUser = settings.User;
SystemUser? runAs = null;
Smtpd.Privsep.PrivilegedClient? helper = null;
if (privileged)
{
    runAs = SystemUsers.Lookup(UnprivilegedUser);
    if (runAs is null || runAs.Uid == 0)
    {
        Console.Error.WriteLine($"smtpd: unknown user {UnprivilegedUser}: create it first (useradd --system --home-dir /var/empty --shell /usr/sbin/nologin {UnprivilegedUser})");
        return 1;
    }
    helper = Smtpd.Privsep.PrivilegedClient.Start(options.Foreground, options.Verbose,
        new Smtpd.Privsep.StartedConfiguration(options.ConfigFile, options.Macros, settings.DefaultPort(privileged)));
}
SmtpdDaemon daemon;
try
{
    daemon = new SmtpdDaemon(config, paths, log, helper: helper, runAs: runAs, chaos: chaos, settings: settings)
    {
        // smtpctl reload and SIGHUP read the same file, with the same -D macros, as this start. As
        // root, the daemon is _smtpd by then: the helper (root) checks the file and hands over
        // what only root may read (a 0600 key), and binds new ports below 1024.
        ConfigReader = helper is null
            ? ct => Task.Run(() => Smtpd.Reload.CheckedConfig.Load(options.ConfigFile, options.Macros, privileged, settings), ct)
            : async ct =>
            {
                var check = await helper.CheckConfigAsync(ct);
                if (!check.Ok) throw new ConfigException(check.Errors);
                return Smtpd.Reload.CheckedConfig.Load(options.ConfigFile, options.Macros, privileged, settings, ConfigFiles.Bundle(check.Files));
            },
        ListenerBinder = helper is null ? (endpoint, _) => Task.FromResult(ListenerEndpoints.Listen(endpoint)) : helper.BindAsync,
    };
}
catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException or Smtpd.Filter.FilterException)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    return 1;
}
await using var running = daemon;
try { await daemon.StartAsync(); }
catch (Exception ex) when (ex is InvalidOperationException or ConfigException or IOException or UnauthorizedAccessException or Smtpd.Filter.FilterException)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    return 1;
}

var stopped = new TaskCompletionSource();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stopped.TrySetResult(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stopped.TrySetResult(); });
// SIGHUP reloads (OpenSMTPD exits on it); the outcome is logged by the daemon.
using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
{
    ctx.Cancel = true;
    _ = daemon.RequestReloadAsync().ContinueWith(t => { _ = t.Exception; }, TaskScheduler.Default);
});
await stopped.Task;
await daemon.StopAsync();
return 0;
