namespace Smtpd.Config;

/// <summary>
/// What the parser reads but the server cannot do yet. Rather than run a configuration whose
/// meaning it would silently change, smtpd (and <c>smtpd -n</c>) reports each such use with its
/// file:line. The list shrinks as components land.
/// </summary>
public static class RulesetSupport
{
    public static IReadOnlyList<ConfigError> Unsupported(Ruleset r)
    {
        var errors = new List<ConfigError>();
        void No(ConfigLocation at, string what) => errors.Add(new ConfigError(at, $"{what} is not supported yet"));

        foreach (var action in r.Actions.Values)
        {
            if (action.Method is DeliveryMethod.ExpandOnly or DeliveryMethod.ForwardOnly) No(action.Location, $"\"{action.Method}\" delivery");
            if (action.Wrapper is not null) No(action.Location, "mda wrappers");
            if (action.HostTable is not null) No(action.Location, "relay host tables");
            if (action.Pki is not null) No(action.Location, "client certificates for relaying (pki)");
            if (action.Srs) No(action.Location, "SRS");
            foreach (var option in action.Options) No(action.Location, $"relay option \"{option}\"");
        }
        foreach (var l in r.Listeners)
            foreach (var option in l.Options)
                if (!Smtp.Tls.ListenerSecurity.Implemented.Contains(option.Split(' ')[0]))
                    No(l.Location, $"listener option \"{option}\"");
        foreach (var f in r.Filters.Values.Concat(r.Procs.Values))
            if (f.Spec is FilterSpec.Process { User: not null } or FilterSpec.Process { Group: not null } or FilterSpec.Process { Chroot: not null })
                No(f.Location, "user, group or chroot for a filter process");
        return errors;
    }
}
