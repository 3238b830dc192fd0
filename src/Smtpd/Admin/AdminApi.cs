using System.Text;
using Smtpd.Control;
using Smtpd.Control.Json;
using Smtpd.Metrics;
using Smtpd.Scheduler;

namespace Smtpd.Admin;

/// <summary>
/// The JSON API of the admin page: the same models, serialized the same way, as
/// <c>smtpctl ... -j</c> (the queue one object per line), and the actions smtpctl's
/// schedule/pause/resume/remove send on the bus.
/// </summary>
internal sealed class AdminApi(ControlViews views, Bus bus)
{
    const string Json = "application/json; charset=utf-8";

    public async Task<HttpResponse?> GetAsync(string path, string? query)
    {
        switch (path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            case ["api", "queue"]:
                var lines = new StringBuilder();
                foreach (var entry in await QueueAsync(AdminQuery.Get(query, "q")))
                    lines.Append(ControlJson.Serialize(entry)).Append('\n');
                return new HttpResponse("200 OK", "application/x-ndjson; charset=utf-8", Encoding.UTF8.GetBytes(lines.ToString()));
            case ["api", "envelope", var id]:
                if (!ControlCommands.TryId(id, out ulong evpid) || id.Length != 16) return HttpResponse.Text("400 Bad Request", "invalid envelope id\n");
                return await views.EnvelopeAsync(evpid) is { } e ? Ok(ControlJson.Serialize(e)) : HttpResponse.Text("404 Not Found", "no such envelope\n");
            case ["api", "stats"]:
                return Ok(ControlJson.Serialize(views.Stats()));
            case ["api", "routes"]:
                var (routes, now) = await views.RoutesAsync();
                return Ok(ControlJson.Serialize(new RouteList(routes.Select(r => RouteEntry.From(r, now)).ToList())));
            default:
                return null;
        }
    }

    /// <summary>The queue, narrowed to the envelopes whose sender or recipient contains <paramref name="search"/> (a domain matches both).</summary>
    public async Task<IReadOnlyList<QueueEntry>> QueueAsync(string? search)
    {
        var all = await views.QueueAsync(0, null);
        if (string.IsNullOrWhiteSpace(search)) return all;
        string s = search.Trim();
        return all.Where(e => e.Sender.Contains(s, StringComparison.OrdinalIgnoreCase) || e.Rcpt.Contains(s, StringComparison.OrdinalIgnoreCase)
            || e.Dest.Contains(s, StringComparison.OrdinalIgnoreCase)).ToList();
    }

    /// <summary>POST /api/envelope/ID/ACTION (ID: an envelope or a message id).</summary>
    public async Task<HttpResponse?> PostAsync(string path)
    {
        if (path.Split('/', StringSplitOptions.RemoveEmptyEntries) is not ["api", "envelope", var id, var action]) return null;
        Func<ulong, BusReply<int>, SchedulerMessage>? message = action switch
        {
            "schedule" => (i, r) => new SchedulerSchedule(i, r),
            "pause" => (i, r) => new SchedulerSuspend(i, true, r),
            // As smtpctl resume envelope: the id is named, so a quarantine is lifted too.
            "resume" => (i, r) => new SchedulerRelease(i, true, r),
            "release" => (i, r) => new SchedulerRelease(i, false, r),
            "remove" => (i, r) => new SchedulerRemove(i, r),
            _ => null,
        };
        if (message is null) return HttpResponse.Text("404 Not Found", "actions: schedule, pause, resume, release, remove\n");
        if (id == "all" || !ControlCommands.TryId(id, out ulong evpid)) return HttpResponse.Text("400 Bad Request", "invalid envelope or message id\n");
        int n = await bus.RequestAsync<int>(r => message(evpid, r));
        return Ok($"{{\"action\":\"{action}\",\"envelopes\":{n}}}");
    }

    static HttpResponse Ok(string json) => new("200 OK", Json, Encoding.UTF8.GetBytes(json + "\n"));
}
