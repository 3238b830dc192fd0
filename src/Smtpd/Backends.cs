namespace Smtpd;

/// <summary>
/// The queue, scheduler and statistics backends, chosen as OpenSMTPD's <c>-B</c> chooses them:
/// <c>-B queue=fs|ram|null</c>, <c>-B scheduler=ramqueue|null</c>, <c>-B stat=ram|sqlite</c>
/// (several in one argument separated by commas, or -B repeated). smtpd.conf has no keyword for them.
/// </summary>
public sealed record Backends(string Queue = "fs", string Scheduler = "ramqueue", string Stat = "ram")
{
    public static readonly IReadOnlyList<string> QueueNames = ["fs", "ram", "null"];
    public static readonly IReadOnlyList<string> SchedulerNames = ["ramqueue", "null"];
    public static readonly IReadOnlyList<string> StatNames = ["ram", "sqlite"];

    /// <summary>These backends with the choices of one <c>-B</c> argument applied.</summary>
    /// <exception cref="FormatException">An unknown kind or backend, named with the ones there are.</exception>
    public Backends With(string spec)
    {
        var b = this;
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            string kind = eq < 0 ? part : part[..eq], name = eq < 0 ? "" : part[(eq + 1)..];
            b = kind switch
            {
                "queue" => b with { Queue = Known(part, "queue", name, QueueNames) },
                "scheduler" => b with { Scheduler = Known(part, "scheduler", name, SchedulerNames) },
                "stat" => b with { Stat = Known(part, "stat", name, StatNames) },
                _ => throw new FormatException($"invalid backend specifier {part}: expected queue=, scheduler= or stat="),
            };
        }
        return b;
    }

    static string Known(string part, string kind, string name, IReadOnlyList<string> names) =>
        names.Contains(name) ? name
            : throw new FormatException($"invalid backend specifier {part}: unknown {kind} backend '{name}' ({string.Join(", ", names)})");
}
