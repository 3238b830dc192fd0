namespace Smtpd.Daemon;

/// <summary>
/// smtpd's command line, parsed as OpenSMTPD's getopt does ("-dv" bundles flags, "-fFILE" or
/// "-f FILE"): -d foreground with logs on stderr, -v verbose, -n check the configuration only,
/// -f FILE, -D macro=value, -T NAME (trace a subsystem from the start, as <c>smtpctl trace</c>;
/// <c>-T chaos</c> turns on fault injection for tests), -B KIND=BACKEND (queue, scheduler and
/// statistics backends, see <see cref="Smtpd.Backends"/>).
/// </summary>
public sealed record DaemonOptions
{
    public const string DefaultConfigFile = Smtpd.Reload.CheckedConfig.DefaultFile;

    public bool Foreground { get; init; }
    public bool Verbose { get; init; }
    public bool CheckOnly { get; init; }
    public bool Help { get; init; }
    public string? ConfigFile { get; init; }
    public Dictionary<string, string> Macros { get; init; } = new();
    public List<string> Traces { get; init; } = [];
    /// <summary>The -B arguments in order, each already known to name existing backends.</summary>
    public List<string> Backends { get; init; } = [];

    public static DaemonOptions Parse(string[] args)
    {
        var o = new DaemonOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a.Length < 2 || a[0] != '-') throw new UsageException($"unexpected argument: {a}");
            for (int j = 1; j < a.Length; j++)
            {
                char flag = a[j];
                switch (flag)
                {
                    case 'd': o = o with { Foreground = true }; break;
                    case 'v': o = o with { Verbose = true }; break;
                    case 'n': o = o with { CheckOnly = true }; break;
                    case 'F': o = o with { Foreground = true }; break;
                    case 'h': o = o with { Help = true }; break;
                    case 'f' or 'D' or 'T' or 'B':
                        string value = j + 1 < a.Length ? a[(j + 1)..]
                            : ++i < args.Length ? args[i] : throw new UsageException($"option -{flag} requires an argument");
                        if (flag == 'f') o = o with { ConfigFile = value };
                        else if (flag == 'T') o.Traces.Add(value);
                        else if (flag == 'B') o.Backends.Add(CheckedBackends(value));
                        else
                        {
                            int eq = value.IndexOf('=');
                            if (eq <= 0) throw new UsageException($"could not parse macro definition {value}");
                            o.Macros[value[..eq]] = value[(eq + 1)..];
                        }
                        j = a.Length;
                        break;
                    default: throw new UsageException($"unknown option -{flag}");
                }
            }
        }
        return o;
    }

    static string CheckedBackends(string spec)
    {
        try { _ = new Smtpd.Backends().With(spec); }
        catch (FormatException ex) { throw new UsageException(ex.Message); }
        return spec;
    }

    public const string Usage = "usage: smtpd [-dFhnv] [-B backend] [-D macro=value] [-f file] [-T trace]";
    public const string Version = "smtpd for .NET (OpenSMTPD-compatible), version 0.1";
}

public sealed class UsageException(string message) : Exception(message);
