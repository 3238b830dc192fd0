using Smtpd.Config;

namespace Smtpd.Reload;

/// <summary>
/// The configuration in force, as components see it between reloads. New sessions, bounces and
/// <c>smtpctl update table</c> use <see cref="Current"/>. A queued envelope names its action
/// (its dispatcher): it is delivered with the action of that name in the current configuration,
/// so a corrected mda command or relay host applies to mail already queued; an action that a
/// reload removed stays known, with the generation that defined it, until the daemon restarts,
/// so that mail accepted under it is still delivered as it was routed.
/// </summary>
public sealed class LiveConfig(ConfigGeneration first)
{
    volatile ConfigGeneration _current = first;
    readonly object _lock = new();
    /// <summary>Actions that reloads removed, by name, with the generation that last defined them.</summary>
    readonly Dictionary<string, ConfigGeneration> _removedActions = new(StringComparer.Ordinal);

    public ConfigGeneration Current => _current;

    /// <summary>The action an envelope names and the generation whose tables it uses; null if none ever had it.</summary>
    public (ActionConfig Action, ConfigGeneration Generation)? Action(string name)
    {
        var current = _current;
        if (current.Ruleset.Actions.TryGetValue(name, out var action)) return (action, current);
        lock (_lock)
        {
            if (_removedActions.TryGetValue(name, out var old) && old.Ruleset.Actions.TryGetValue(name, out action)) return (action, old);
        }
        return null;
    }

    /// <summary>
    /// Makes <paramref name="next"/> current. The one it replaces is returned, to be retired once
    /// no new session can start under it any more (<see cref="ConfigGeneration.Retire"/>).
    /// </summary>
    public (ConfigGeneration Old, bool OldStillNeeded, IReadOnlyList<string> RemovedActions) Swap(ConfigGeneration next)
    {
        lock (_lock)
        {
            var old = _current;
            var removed = new List<string>();
            foreach (string name in old.Ruleset.Actions.Keys)
                if (!next.Ruleset.Actions.ContainsKey(name)) { _removedActions[name] = old; removed.Add(name); }
            foreach (string name in next.Ruleset.Actions.Keys) _removedActions.Remove(name);
            _current = next;
            return (old, _removedActions.ContainsValue(old), removed);
        }
    }
}
