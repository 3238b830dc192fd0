using System.Net;
using System.Net.Sockets;
using Smtpd.Config;
using Smtpd.Reload;
using Smtpd.Smtp;

namespace Smtpd;

/// <summary>
/// Live reload (<c>smtpctl reload</c>, SIGHUP). The new configuration is read and checked as a
/// start would check it; on any error nothing changes. Otherwise its tables, filters and new
/// listeners are made ready first, then it is put in force at once: new sessions get it,
/// sessions under way finish under the one they started with, listeners that stay keep their
/// sockets (no connection is refused meanwhile), removed ones are closed.
/// </summary>
public sealed partial class SmtpdDaemon
{
    /// <summary>Reads and checks the configuration again (throws <see cref="ConfigException"/>); null: reload is not available.</summary>
    public Func<CancellationToken, Task<CheckedConfig>>? ConfigReader { get; init; }

    /// <summary>Binds a listener added by a reload; by default the daemon binds it itself.</summary>
    public Func<IPEndPoint, CancellationToken, Task<Socket>> ListenerBinder { get; init; } =
        (endpoint, _) => Task.FromResult(ListenerEndpoints.Listen(endpoint));

    /// <summary>Asks the daemon's loop for a reload (as smtpctl does) and waits for the outcome.</summary>
    public Task<ReloadResult> RequestReloadAsync(CancellationToken ct = default) =>
        _bus.RequestAsync<ReloadResult>(r => new ParentReload(r), TimeSpan.FromMinutes(2), ct);

    /// <summary>The daemon's own loop: one reload at a time, in the order asked.</summary>
    async Task RunParentAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var message in _bus.Parent.Reader.ReadAllAsync(ct))
            {
                try
                {
                    await _bus.ProfileAsync("parent", message, async () =>
                    {
                        if (message is ParentReload reload) reload.Reply.Answer(await ReloadAsync(ct));
                    });
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _log.Warn($"reload: unexpected error: {ex.GetType().Name}: {SystemErrors.Describe(ex)}; the configuration in force is unchanged");
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    async Task<ReloadResult> ReloadAsync(CancellationToken ct)
    {
        var current = _live.Current;
        string source = current.Ruleset.Source;
        if (ConfigReader is null) return Refused(source, [new ConfigError(new ConfigLocation(source, 0), "reload is not available in this daemon")]);
        CheckedConfig next;
        try { next = await ConfigReader(ct); }
        catch (ConfigException ex) { return Refused(source, ex.Errors); }
        catch (IOException ex)
        {
            // The privileged helper, which reads the file as root, is gone or did not answer.
            return Refused(source, [new ConfigError(new ConfigLocation(source, 0), $"the configuration could not be read: {ex.Message}")]);
        }
        var errors = next.Unsupported.Concat(Unchangeable(current.Ruleset, next.Ruleset)).ToList();
        if (errors.Count > 0) return Refused(source, errors);

        var generation = BuildGeneration(current.Number + 1, next);
        PreparedListeners listeners;
        try
        {
            if (generation.Filters is { } filters) await filters.StartAsync();
            listeners = await _smtp.PrepareListenersAsync(next.Listeners, DefaultPort, ListenerBinder, ct);
        }
        catch (Exception ex) when (ex is ConfigException or Filter.FilterException)
        {
            await Abandon(generation);
            return Refused(source, ex is ConfigException c ? c.Errors : [new ConfigError(new ConfigLocation(next.Ruleset.Source, 0), ex.Message)]);
        }

        // From here on it is in force: deliveries first (an envelope accepted under the old rules
        // still finds its action), then new sessions; the old generation goes when its last session ends.
        var (old, oldStillNeeded, removedActions) = _live.Swap(generation);
        var context = _sessionContext with
        {
            Ruleset = next.Ruleset,
            Recipients = generation.Recipients,
            Tables = generation.Tables,
            Authenticator = generation.Authenticator,
            Filters = generation.Filters,
        };
        ListenerChanges changes;
        try { changes = await _bus.RequestAsync<ListenerChanges>(r => new SmtpReconfigure(context, generation, listeners, r), ct: ct); }
        catch (BusRequestException ex)
        {
            listeners.Abandon();
            _log.Warn($"reload: the SMTP component did not take the new configuration ({ex.Message}): sessions keep the old one until restart");
            return new ReloadResult(false, [$"smtpctl: reload: the SMTP component did not take the new configuration: {ex.Message}"]);
        }
        await old.Retire(oldStillNeeded);

        var lines = new List<string>
        {
            $"configuration reloaded from {next.Ruleset.Source} (generation {generation.Number}): " +
            $"{changes.Kept.Count} listener(s) kept, {changes.Added.Count} added, {changes.Removed.Count} closed",
        };
        foreach (var endpoint in changes.Added) lines.Add($"listening on {endpoint}");
        foreach (var endpoint in changes.Removed) lines.Add($"no longer listening on {endpoint}");
        if (removedActions.Count > 0)
            lines.Add($"actions removed: {string.Join(", ", removedActions)} (mail queued for them is still delivered as it was routed, until restart)");
        foreach (string line in lines) _log.Info($"info: {line}");
        return new ReloadResult(true, lines);
    }

    ReloadResult Refused(string source, IEnumerable<ConfigError> errors)
    {
        var lines = errors.Select(e => e.ToString()).ToList();
        foreach (string line in lines) _log.Warn($"reload: {line}");
        _log.Warn($"configuration not reloaded: still running with the one read from {source} (generation {_live.Current.Number})");
        return new ReloadResult(false, lines);
    }

    /// <summary>
    /// What a running daemon cannot change: the queue's file format (compression, encryption and
    /// its key) would make the files already queued unreadable or written two ways.
    /// </summary>
    static IEnumerable<ConfigError> Unchangeable(Ruleset running, Ruleset next)
    {
        var at = new ConfigLocation(next.Source, 0);
        if (running.QueueCompression != next.QueueCompression)
            yield return new ConfigError(at, "queue compression cannot change while smtpd runs: restart it");
        if (running.QueueEncryption != next.QueueEncryption || running.QueueEncryptionKey != next.QueueEncryptionKey)
            yield return new ConfigError(at, "queue encryption cannot change while smtpd runs: restart it");
        if (running.Metrics?.EndPoint.ToString() != next.Metrics?.EndPoint.ToString() || running.Metrics?.Public != next.Metrics?.Public)
            yield return new ConfigError(at, "metrics listen on cannot change while smtpd runs: restart smtpd");
        if (running.Admin?.EndPoint.ToString() != next.Admin?.EndPoint.ToString() || running.Admin?.AuthTable != next.Admin?.AuthTable || running.Admin?.Pki != next.Admin?.Pki)
            yield return new ConfigError(at, "admin listen on cannot change while smtpd runs: restart smtpd");
    }

    static async Task Abandon(ConfigGeneration generation)
    {
        if (generation.Filters is { } filters) await filters.DisposeAsync();
        generation.Tables.Retire();
    }
}
