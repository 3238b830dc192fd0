using Smtpd.Control.Json;

namespace Smtpd.Control;

// The JSON forms of the show verbs (smtpctl ... -j): built from the same models as the text,
// by ControlViews; one object per line for the queue (as postqueue -j), one object for the others.
public sealed partial class ControlCommands
{
    /// <summary>The verbs that have a JSON form, for the error that names them.</summary>
    const string JsonVerbs = "show queue, show envelope, show stats, show routes";

    async Task<int> RunJsonAsync(string[] words, bool privileged, string? owner, TextWriter output)
    {
        switch (words)
        {
            case ["show", "queue"]: return await QueueJsonAsync(0, owner, output);
            case ["show", "queue", var id]: return TryId(id, out ulong q) ? await QueueJsonAsync(q, owner, output) : await BadIdAsync(id, output);
            case ["show", "envelope", _] when !privileged:
                await output.WriteLineAsync("smtpctl: permission denied: only root (or the daemon's user) may read envelopes and messages");
                return 1;
            case ["show", "envelope", var id]:
                if (!TryId(id, out ulong evpid) || id.Length != 16) return await BadIdAsync(id, output);
                if (await _views.EnvelopeAsync(evpid) is not { } envelope)
                {
                    await output.WriteLineAsync($"smtpctl: no such envelope: {id}");
                    return 1;
                }
                await output.WriteLineAsync(ControlJson.Serialize(envelope));
                return 0;
            case ["show", "stats"]:
                await output.WriteLineAsync(ControlJson.Serialize(_views.Stats()));
                return 0;
            case ["show", "routes"]:
                var (routes, now) = await _views.RoutesAsync();
                await output.WriteLineAsync(ControlJson.Serialize(new RouteList(routes.Select(r => RouteEntry.From(r, now)).ToList())));
                return 0;
            case ["show", "queue" or "envelope" or "stats" or "routes", ..]:
                // A JSON verb with the wrong words: what the parser says of them, as without -j.
                foreach (string line in ControlGrammar.Possibilities(words))
                    await output.WriteLineAsync(ControlProtocol.ErrorPrefix + line);
                return 255;
            default:
                await output.WriteLineAsync($"smtpctl: -j: \"{string.Join(' ', words)}\" has no JSON form (only {JsonVerbs})");
                return 1;
        }
    }

    async Task<int> QueueJsonAsync(ulong id, string? owner, TextWriter output)
    {
        foreach (var entry in await _views.QueueAsync(id, owner))
            await output.WriteLineAsync(ControlJson.Serialize(entry));
        return 0;
    }
}
