using Smtpd.Control.Json;
using Smtpd.Mta;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Control;

/// <summary>
/// What the show verbs read from the other components, as the models both renderings are built
/// from: OpenSMTPD's text (smtpctl) and JSON (smtpctl -j, the admin page's API). Read only, by
/// messages on the bus.
/// </summary>
public sealed class ControlViews(ControlContext ctx)
{
    /// <summary>
    /// The queue (0: all of it, or one message or envelope), in the queue's order; with an owner,
    /// only the mail that user sent (by the sender's user name).
    /// </summary>
    public async Task<IReadOnlyList<QueueEntry>> QueueAsync(ulong id, string? owner)
    {
        // An envelope removed while in flight is gone for the admin, whatever its attempt still does.
        var scheduled = (await ctx.Bus.RequestAsync<IReadOnlyList<ScheduledEnvelope>>(r => new SchedulerList(id, r))).Where(s => !s.Removed).ToList();
        var envelopes = await ctx.Bus.RequestAsync<IReadOnlyList<Envelope>>(r => new QueueLoad(scheduled.Select(s => s.Info.Evpid).ToList(), r));
        var byId = scheduled.ToDictionary(s => s.Info.Evpid);
        var now = ctx.Time.GetUtcNow();
        return envelopes
            .Where(e => owner is null || string.Equals(e.Sender.Split('@')[0], owner, StringComparison.OrdinalIgnoreCase))
            .Select(e => QueueEntry.From(e, byId[e.Id], now))
            .ToList();
    }

    /// <summary>One envelope as the queue keeps it; null when there is none (or it cannot be read).</summary>
    public async Task<EnvelopeDetail?> EnvelopeAsync(ulong evpid) =>
        (await ctx.Bus.RequestAsync<IReadOnlyList<Envelope>>(r => new QueueLoad([evpid], r))) is [var e] ? EnvelopeDetail.From(e) : null;

    public StatsReport Stats() => StatsReport.From(ctx.Bus.Stats.Snapshot(), ctx.Started, ctx.Time.GetUtcNow());

    /// <summary>The MTA's next hops and penalized routes, and the instant they were read at.</summary>
    public async Task<(IReadOnlyList<RouteState> Routes, DateTimeOffset Now)> RoutesAsync()
    {
        var routes = await ctx.Bus.RequestAsync<IReadOnlyList<RouteState>>(r => new MtaRoutes(r));
        return (routes, ctx.Time.GetUtcNow());
    }
}
