using System.Globalization;
using Smtpd.Lookup;
using Smtpd.Mda;
using Smtpd.Mta;
using Smtpd.Queue;
using Smtpd.Scheduler;
using Smtpd.Smtp;
using Smtpd.Stats;
using Smtpd.Table;

namespace Smtpd.Control;

/// <summary>
/// The verbs of <c>smtpctl</c> (OpenSMTPD's control.c and smtpctl.c): each writes what smtpctl
/// prints and returns its exit status. Verbs that change anything are for root or the user the
/// daemon runs as; the others may show the queue and statistics.
/// </summary>
public sealed partial class ControlCommands(ControlContext ctx)
{
    readonly ControlViews _views = new(ctx);

    public async Task<int> RunAsync(string[] words, bool privileged, uint? uid, TextWriter output, CancellationToken ct)
    {
        try { return await RunVerbAsync(words, privileged, uid, output, ct); }
        catch (BusRequestException ex)
        {
            // The component asked failed or did not answer: smtpctl says so now; the log says why.
            ctx.Log.Warn($"control: {string.Join(' ', words)}: {ex.Message}");
            await output.WriteLineAsync(ControlProtocol.ErrorPrefix + "smtpctl: command failed");
            return 1;
        }
    }

    async Task<int> RunVerbAsync(string[] words, bool privileged, uint? uid, TextWriter output, CancellationToken ct)
    {
        // Others see only their own mail in the queue (by the sender's user name).
        string? owner = privileged ? null : uid is { } u ? Mda.SystemUsers.LookupUid(u)?.Name ?? "" : "";
        if (ControlGrammar.TakeJsonFlag(ref words)) return await RunJsonAsync(words, privileged, owner, output);
        string verb = string.Join(' ', words.Take(2));
        bool changes = words.Length > 0 && words[0] is "pause" or "resume" or "release" or "schedule" or "remove" or "trace" or "untrace"
            or "log" or "update" or "profile" or "unprofile" or "discover" or "reload";
        if (changes && !privileged)
        {
            await output.WriteLineAsync("smtpctl: permission denied: only root (or the daemon's user) may do that");
            return 1;
        }

        switch (words)
        {
            case ["show", "queue"]: return await ShowQueueAsync(0, owner, output);
            case ["show", "queue", var id]: return TryId(id, out ulong q) ? await ShowQueueAsync(q, owner, output) : await BadIdAsync(id, output);
            case ["show", "envelope" or "message", _] when !privileged:
                await output.WriteLineAsync("smtpctl: permission denied: only root (or the daemon's user) may read envelopes and messages");
                return 1;
            case ["show", "envelope", var id]: return await ShowEnvelopeAsync(id, output);
            case ["show", "message", var id]: return await ShowMessageAsync(id, output);
            case ["profile" or "unprofile", var what]:
                // One switch for every component's handlers; the names say which an admin means.
                if (what is not ("imsg" or "smtp" or "queue" or "scheduler" or "mta" or "mda" or "bounce" or "all"))
                {
                    await output.WriteLineAsync($"smtpctl: invalid profiling subsystem: {what} (imsg, smtp, queue, scheduler, mta, mda, bounce, all)");
                    return 1;
                }
                ctx.Bus.Profiling = words[0] == "profile";
                return await OkAsync(output);
            case ["show", "stats"]: return await ShowStatsAsync(output);
            case ["show", "status"]:
                await output.WriteLineAsync($"MDA {(ctx.MdaPaused ? "paused" : "running")}");
                await output.WriteLineAsync($"MTA {(ctx.MtaPaused ? "paused" : "running")}");
                await output.WriteLineAsync($"SMTP {(ctx.SmtpPaused ? "paused" : "running")}");
                return 0;
            case ["show", "routes"]:
                foreach (var route in (await _views.RoutesAsync()).Routes) await output.WriteLineAsync(route.Line());
                return 0;
            case ["show", "hosts"]: return await ShowMtaAsync(MtaView.Hosts, output);
            case ["show", "relays"]: return await ShowMtaAsync(MtaView.Relays, output);
            case ["show", "hoststats"]: return await ShowMtaAsync(MtaView.HostStats, output);
            case ["show", "tls-policy", _] when !privileged:
                // It looks the policy up live: DNS queries, an HTTPS fetch, a policy cached in the spool.
                await output.WriteLineAsync("smtpctl: permission denied: only root (or the daemon's user) may look up TLS policies");
                return 1;
            case ["show", "tls-policy", var domain]: return await ShowTlsPolicyAsync(domain, output);
            // OpenSMTPD lists here the blocks of "pause mta from ADDR for DOMAIN"; we have no such
            // verb, so none (a route the MTA penalized is shown by show routes, as theirs).
            case ["show", "mta", "paused"]: return 0;
            case ["resume", "route", var route] when ulong.TryParse(route, NumberStyles.None, CultureInfo.InvariantCulture, out ulong routeId):
                // As OpenSMTPD: accepted whatever the id; the MTA logs the routes it enables.
                ctx.Bus.Post(new MtaResumeRoute(routeId));
                return await OkAsync(output);
            case ["discover", var id]: return await DiscoverAsync(id, output);
            case ["pause", "smtp"]: return await PauseSmtpAsync(true, output);
            case ["resume", "smtp"]: return await PauseSmtpAsync(false, output);
            case ["pause", "mta"]: ctx.MtaPaused = true; ctx.Bus.Post(new MtaPause(true)); return await OkAsync(output);
            case ["resume", "mta"]: ctx.MtaPaused = false; ctx.Bus.Post(new MtaPause(false)); return await OkAsync(output);
            case ["pause", "mda"]: ctx.MdaPaused = true; ctx.Bus.Post(new MdaPause(true)); return await OkAsync(output);
            case ["resume", "mda"]: ctx.MdaPaused = false; ctx.Bus.Post(new MdaPause(false)); return await OkAsync(output);
            case ["pause", "envelope", var id]: return await ForEachAsync(id, output, "paused", (i, r) => new SchedulerSuspend(i, true, r));
            // Naming a quarantined message (or envelope) lets it go as release would, as shown
            // `suspend` it is; "all" lifts only the admin's pauses: quarantined mail is let go
            // one by one, or all at once by `release all`, never as a side effect.
            case ["resume", "envelope", var id]: return await ForEachAsync(id, output, "resumed", (i, r) => new SchedulerRelease(i, true, r));
            case ["release", var id]: return await ForEachAsync(id, output, "released", (i, r) => new SchedulerRelease(i, false, r));
            case ["schedule", var id]: return await ForEachAsync(id, output, "scheduled", (i, r) => new SchedulerSchedule(i, r));
            case ["remove", var id]: return await ForEachAsync(id, output, "removed", (i, r) => new SchedulerRemove(i, r));
            case ["log", "verbose"]: ctx.Log.Verbose = true; return await OkAsync(output);
            case ["log", "brief"]: ctx.Log.Verbose = false; return await OkAsync(output);
            case ["trace" or "untrace", _]:
                string sub = words[1];
                if (!SmtpdLog.Subsystems.Contains(sub))
                {
                    await output.WriteLineAsync($"smtpctl: invalid trace subsystem: {sub} ({string.Join(", ", SmtpdLog.Subsystems)})");
                    return 1;
                }
                ctx.Log.SetTrace(sub, words[0] == "trace");
                return await OkAsync(output);
            case ["update", "table", var name]:
                return await UpdateTableAsync(name, output);
            case ["reload"]:
                return await ReloadAsync(output, ct);
            default:
                // OpenSMTPD's parser: the words that could come next, on standard error, exit 255.
                foreach (string line in ControlGrammar.Possibilities(words))
                    await output.WriteLineAsync(ControlProtocol.ErrorPrefix + line);
                return 255;
        }
    }

    static async Task<int> OkAsync(TextWriter output)
    {
        await output.WriteLineAsync("command succeeded");
        return 0;
    }

    static async Task<int> BadIdAsync(string id, TextWriter output)
    {
        await output.WriteLineAsync($"smtpctl: invalid msgid/evpid: {id}");
        return 1;
    }

    /// <summary>"all", an 8-digit message id or a 16-digit envelope id, hexadecimal. 0 means all.</summary>
    internal static bool TryId(string text, out ulong id)
    {
        id = 0;
        if (text == "all") return true;
        if (text.Length is not (8 or 16) || !ulong.TryParse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out id)) return false;
        if (text.Length == 8) id <<= 32;
        return id != 0;
    }

    async Task<int> ForEachAsync(string idText, TextWriter output, string done, Func<ulong, BusReply<int>, SchedulerMessage> message)
    {
        if (!TryId(idText, out ulong id)) return await BadIdAsync(idText, output);
        int n = await ctx.Bus.RequestAsync<int>(r => message(id, r));
        await output.WriteLineAsync($"{n} envelope{(n > 1 ? "s" : "")} {done}");
        return 0;
    }

    async Task<int> ShowQueueAsync(ulong id, string? owner, TextWriter output)
    {
        foreach (var entry in await _views.QueueAsync(id, owner))
            await output.WriteLineAsync(QueueListing.Line(entry));
        return 0;
    }

    async Task<int> ShowEnvelopeAsync(string idText, TextWriter output)
    {
        if (!TryId(idText, out ulong id) || idText.Length != 16) return await BadIdAsync(idText, output);
        string? text = await ctx.Bus.RequestAsync<string?>(r => new QueueEnvelopeText(id, r));
        // OpenSMTPD's smtpctl opens the file itself, and says so when it is not there.
        if (text is null) { await output.WriteLineAsync("smtpctl: fopen: No such file or directory"); return 1; }
        await output.WriteAsync(text);
        return 0;
    }

    async Task<int> ShowMessageAsync(string idText, TextWriter output)
    {
        if (!TryId(idText, out ulong id) || idText == "all") return await BadIdAsync(idText, output);
        var stream = await ctx.Bus.RequestAsync<Stream?>(r => new QueueMessageOpen(QueueIds.MessageOf(id), r));
        if (stream is null) { await output.WriteLineAsync($"smtpctl: no such message: {idText}"); return 1; }
        using var reader = new StreamReader(stream);
        char[] buffer = new char[64 * 1024];
        int n;
        while ((n = await reader.ReadAsync(buffer)) > 0) await output.WriteAsync(buffer.AsMemory(0, n));
        return 0;
    }

    async Task<int> ShowStatsAsync(TextWriter output)
    {
        // One list in key order, uptime in its place, as OpenSMTPD's smtpctl prints it.
        var uptime = ctx.Time.GetUtcNow() - ctx.Started;
        var lines = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["uptime"] = ((long)uptime.TotalSeconds).ToString(CultureInfo.InvariantCulture),
            ["uptime.human"] = Durations.Format(uptime),
        };
        foreach (var (key, value) in ctx.Bus.Stats.Snapshot())
            lines[key] = value.Kind switch
            {
                StatKind.Duration => TimeSpan.FromTicks(value.Value).TotalSeconds.ToString("0.000000", CultureInfo.InvariantCulture),
                _ => value.Value.ToString(CultureInfo.InvariantCulture),
            };
        foreach (var (key, text) in lines) await output.WriteLineAsync($"{key}={text}");
        return 0;
    }

    /// <summary><c>smtpctl update table</c>: the lookup component reads the table again and swaps it in.</summary>
    async Task<int> UpdateTableAsync(string name, TextWriter output)
    {
        try { await ctx.Bus.RequestAsync<bool>(r => new LookupUpdateTable(name, r)); }
        catch (BusRequestException ex) when (ex.InnerException is KeyNotFoundException)
        {
            // smtpctl prints OpenSMTPD's words; the log says which table was not found.
            ctx.Log.Warn($"update table: no such table: {name}");
            await output.WriteLineAsync("command failed");
            return 1;
        }
        catch (BusRequestException ex) when (ex.InnerException is TableContentException content)
        {
            foreach (string problem in content.Problems)
            {
                ctx.Log.Warn($"table {name} not updated: {problem}");
                await output.WriteLineAsync($"smtpctl: table {name}: {problem}");
            }
            return 1;
        }
        catch (BusRequestException ex) when (ex.InnerException is TableTempFailException tempFail)
        {
            await output.WriteLineAsync($"smtpctl: {tempFail.Message}");
            return 1;
        }
        ctx.Log.Info($"info: table {name} updated");
        return await OkAsync(output);
    }

    /// <summary>
    /// <c>smtpctl reload</c>: the daemon reads and checks its configuration file again and puts it
    /// in force, or keeps the one it runs with and says why (each error as file:line: message).
    /// </summary>
    async Task<int> ReloadAsync(TextWriter output, CancellationToken ct)
    {
        var result = await ctx.Bus.RequestAsync<Reload.ReloadResult>(r => new Reload.ParentReload(r), TimeSpan.FromMinutes(2), ct);
        string prefix = result.Reloaded ? "" : ControlProtocol.ErrorPrefix;
        foreach (string line in result.Lines) await output.WriteLineAsync(prefix + line);
        if (result.Reloaded) return 0;
        await output.WriteLineAsync(ControlProtocol.ErrorPrefix + "smtpctl: configuration not reloaded: smtpd goes on with the one in force");
        return 1;
    }

    /// <summary>The SMTP component answers once its listeners see the change: new clients are refused (or served) from then on.</summary>
    async Task<int> PauseSmtpAsync(bool paused, TextWriter output)
    {
        await ctx.Bus.RequestAsync<bool>(r => new SmtpPause(paused, r));
        ctx.SmtpPaused = paused;
        return await OkAsync(output);
    }

    async Task<int> ShowMtaAsync(MtaView view, TextWriter output)
    {
        foreach (string line in await ctx.Bus.RequestAsync<IReadOnlyList<string>>(r => new MtaShow(view, r)))
            await output.WriteLineAsync(line);
        return 0;
    }

    /// <summary><c>smtpctl show tls-policy DOMAIN</c>: the policy relaying by MX would apply there now, and where it came from.</summary>
    async Task<int> ShowTlsPolicyAsync(string domain, TextWriter output)
    {
        if (TableValues.DomainProblem(domain) is { } why)
        {
            await output.WriteLineAsync($"smtpctl: invalid domain: {domain}: {why}");
            return 1;
        }
        foreach (string line in await ctx.Bus.RequestAsync<IReadOnlyList<string>>(r => new MtaShowTlsPolicy(domain, r)))
            await output.WriteLineAsync(line);
        return 0;
    }

    /// <summary><c>smtpctl discover</c>: the queue reads the envelopes back and the scheduler takes those it lost.</summary>
    async Task<int> DiscoverAsync(string idText, TextWriter output)
    {
        if (!TryId(idText, out ulong id) || idText == "all") return await BadIdAsync(idText, output);
        int n = await ctx.Bus.RequestAsync<int>(r => new QueueDiscover(id, r));
        await output.WriteLineAsync($"{n} envelope{(n != 1 ? "s" : "")} discovered");
        return 0;
    }

}
