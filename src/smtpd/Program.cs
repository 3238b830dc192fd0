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
// The environment is read here and nowhere else (SmtpdSettings); the helper needs only the paths.
if (args is [Smtpd.Privsep.PrivilegedHelper.Flag, ..])
    return Smtpd.Privsep.PrivilegedHelper.Main(args, SmtpdPaths.FromEnvironment(Environment.GetEnvironmentVariable, privileged: true));
if (args is [DeliveryWorker.Flag, ..]) return await DeliveryWorker.MainAsync(args);

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
Ruleset ruleset;
try
{
    ruleset = LoadConfiguration(options, privileged, settings);
    CheckTables(ruleset);
    _ = ListenerSetup.LoadAll(ruleset); // reads certificates and keys: a bad one is named now
    _ = Smtpd.Mta.RelayCas.Load(ruleset); // and the CAs relay actions verify their peers with
    Smtpd.Filter.FilterHost.Check(ruleset); // and DKIM keys
}
catch (Smtpd.Filter.FilterException ex)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    return 1;
}
catch (TlsSetupException ex)
{
    Console.Error.WriteLine(ex);
    return 1;
}
catch (ConfigException ex)
{
    foreach (var error in ex.Errors) Console.Error.WriteLine(error);
    return 1;
}
catch (TableTempFailException ex)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    return 1;
}

// Valid smtpd.conf that uses what this version cannot do yet: -n warns, the daemon refuses to
// start rather than run with a different meaning.
var unsupported = RulesetSupport.Unsupported(ruleset);
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
    helper = Smtpd.Privsep.PrivilegedClient.Start(options.Foreground, options.Verbose);
}
SmtpdDaemon daemon;
try { daemon = new SmtpdDaemon(ruleset, paths, log, helper: helper, runAs: runAs, chaos: chaos, settings: settings); }
catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException or Smtpd.Filter.FilterException)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    return 1;
}
await using var running = daemon;
try { await daemon.StartAsync(); }
catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException or Smtpd.Filter.FilterException)
{
    Console.Error.WriteLine($"smtpd: {ex.Message}");
    return 1;
}

var stopped = new TaskCompletionSource();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stopped.TrySetResult(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stopped.TrySetResult(); });
await stopped.Task;
await daemon.StopAsync();
return 0;

// Opens every table (files, database and directory configurations, no connection yet) and
// checks the entries of those read whole against their uses: a missing or bad one is a
// configuration error at the line that declares it, and a bad entry also names its own file:line.
static void CheckTables(Ruleset ruleset)
{
    var errors = new List<ConfigError>();
    foreach (var (table, error) in TableSet.Verify(ruleset))
    {
        if (error is TableContentException content) errors.AddRange(content.Problems.Select(p => new ConfigError(table.Location, p)));
        else errors.Add(new ConfigError(table.Location, error.Message));
    }
    if (errors.Count > 0) throw new ConfigException(errors);
}

static Ruleset LoadConfiguration(DaemonOptions options, bool privileged, SmtpdSettings settings)
{
    // No file at all (and none asked for): run the seed's minimalist setup.
    if (options.ConfigFile is null && !File.Exists(DaemonOptions.DefaultConfigFile))
        return ConfigParser.Parse(DefaultConfig.Text(privileged), "(default)", options.Macros, settings);
    string file = options.ConfigFile ?? DaemonOptions.DefaultConfigFile;
    if (!File.Exists(file))
        throw new ConfigException([new ConfigError(new ConfigLocation(file, 0), "cannot open configuration file")]);
    return ConfigParser.ParseFile(file, options.Macros, settings);
}
