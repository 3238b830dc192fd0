using System.Runtime.InteropServices;
using Smtpd;
using Smtpd.Config;
using Smtpd.Daemon;
using Smtpd.Mda;
using Smtpd.Smtp;
using Smtpd.Smtp.Tls;
using Smtpd.Table;

// smtpd: the daemon. Exit codes: 0 ok, 1 configuration or start-up error, 64 usage.
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
Ruleset ruleset;
try
{
    ruleset = LoadConfiguration(options, privileged);
    _ = new TableSet(ruleset); // opens file tables: a missing one is a configuration error
    _ = ListenerSetup.LoadAll(ruleset); // reads certificates and keys: a bad one is named now
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

var paths = SmtpdPaths.FromEnvironment(privileged);
using var log = new SmtpdLog(options.Foreground, options.Verbose);
SmtpdDaemon daemon;
try { daemon = new SmtpdDaemon(ruleset, paths, log); }
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

static Ruleset LoadConfiguration(DaemonOptions options, bool privileged)
{
    // No file at all (and none asked for): run the seed's minimalist setup.
    if (options.ConfigFile is null && !File.Exists(DaemonOptions.DefaultConfigFile))
        return ConfigParser.Parse(DefaultConfig.Text(privileged), "(default)", options.Macros);
    string file = options.ConfigFile ?? DaemonOptions.DefaultConfigFile;
    if (!File.Exists(file))
        throw new ConfigException([new ConfigError(new ConfigLocation(file, 0), "cannot open configuration file")]);
    return ConfigParser.ParseFile(file, options.Macros);
}
