using System.Collections.Concurrent;
using System.Net;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Queue;

namespace Smtpd.Mta;

/// <summary>
/// The relaying component (OpenSMTPD's mta). Each transfer from the queue is split by route
/// (action and destination domain); all recipients of a message for one route go in one
/// transaction. Next hops are tried in MX order; a host that fails to connect or greet is
/// marked broken for a while and new sessions go elsewhere; failures that are the host's fault
/// are temporary for the mail. Sessions are kept per next hop and reused, across domains.
/// </summary>
public sealed class MtaProcess
{
    static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(10);
    static readonly TimeSpan BrokenFor = TimeSpan.FromSeconds(60);
    const int MaxConcurrentRoutes = 100;
    /// <summary>How long envelopes of a penalized route are held here before going back to the scheduler.</summary>
    static readonly TimeSpan MaxHold = TimeSpan.FromMinutes(5);

    readonly Ruleset _ruleset;
    readonly RoutePlanner _planner;
    readonly IDnsResolver _dns;
    readonly IQueueBackend _queue;
    readonly Bus _bus;
    readonly TimeProvider _time;
    readonly SmtpdLog _log;
    readonly ConcurrentDictionary<string, HostConnections> _hosts = new();
    readonly ConcurrentDictionary<string, DateTimeOffset> _brokenUntil = new(StringComparer.OrdinalIgnoreCase);
    readonly SemaphoreSlim _concurrency = new(MaxConcurrentRoutes);
    readonly ConcurrentDictionary<Task, bool> _running = new();
    readonly RoutePenalties _penalties = new();

    public MtaProcess(Ruleset ruleset, Table.TableSet tables, IDnsResolver dns, IQueueBackend queue, Bus bus, TimeProvider time, SmtpdLog log)
    {
        _ruleset = ruleset;
        _planner = new RoutePlanner(ruleset, tables, dns);
        _dns = dns;
        _queue = queue;
        _bus = bus;
        _time = time;
        _log = log;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        using var reaper = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var reaping = ReapIdleAsync(reaper, ct);
        try
        {
            var held = new List<MtaTransfer>();
            bool paused = false;
            await foreach (var message in _bus.Mta.Reader.ReadAllAsync(ct))
            {
                await _bus.ChaosPauseAsync("mta", ct);
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                if (message is MtaPause p)
                {
                    paused = p.Paused;
                    _log.Info($"info: mta {(paused ? "paused" : "resumed")}");
                    if (!paused) { foreach (var h in held) Start(h, ct); held.Clear(); }
                    continue;
                }
                if (message is not MtaTransfer transfer) continue;
                if (paused) held.Add(transfer);
                else Start(transfer, ct);
                _bus.Profile("mta", nameof(MtaTransfer), started);
            }
        }
        catch (OperationCanceledException) { }
        await Task.WhenAny(Task.WhenAll(_running.Keys), Task.Delay(TimeSpan.FromSeconds(5)));
        foreach (var host in _hosts.Values)
            foreach (var s in host.TakeIdle(TimeSpan.Zero, DateTimeOffset.MaxValue))
                await s.QuitAsync("shutdown");
        await reaping;
    }

    /// <summary>Splits a transfer by route (action and domain) and starts each.</summary>
    void Start(MtaTransfer transfer, CancellationToken ct)
    {
        foreach (var group in transfer.Envelopes.GroupBy(e => (e.Dispatcher, Domain: DomainOf(e.Dest).ToLowerInvariant())))
        {
            var task = DeliverGroupAsync(group.Key.Dispatcher, group.Key.Domain, group.ToList(), ct);
            _running[task] = true;
            _ = task.ContinueWith(t => _running.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    async Task ReapIdleAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
                foreach (var host in _hosts.Values)
                    foreach (var s in host.TakeIdle(IdleTimeout, DateTimeOffset.UtcNow))
                        await s.QuitAsync("timeout");
        }
        catch (OperationCanceledException) { }
    }

    static string DomainOf(string address)
    {
        int at = address.LastIndexOf('@');
        return at < 0 ? "" : address[(at + 1)..];
    }

    async Task DeliverGroupAsync(string dispatcher, string domain, List<Envelope> envelopes, CancellationToken ct)
    {
        if (!_ruleset.Actions.TryGetValue(dispatcher, out var action))
        {
            Report(envelopes, Outcome.TempFail($"No action {dispatcher} in the configuration"), null);
            return;
        }
        string routeKey = $"{dispatcher}|{domain}";
        var heldSince = _time.GetUtcNow();
        try
        {
            if (_bus.Chaos is { } monkey)
            {
                await monkey.PauseAsync("mta.deliver", ct);
                if (monkey.Fails("mta.deliver")) { Report(envelopes, Outcome.TempFail("chaos: injected relay failure"), null); return; }
            }
            while (envelopes.Count > 0)
            {
                // A penalized route makes new envelopes wait too, instead of hammering it.
                var penalty = _penalties.Until(routeKey) - _time.GetUtcNow();
                if (penalty > TimeSpan.Zero) await Task.Delay(penalty, _time, ct);

                RouteAttempt attempt;
                await _concurrency.WaitAsync(ct);
                try
                {
                    var route = await _planner.PlanAsync(action, domain, ct);
                    if (route.Failure is { } failure) { Report(envelopes, failure, null); return; }
                    attempt = await TransferAsync(route, action, envelopes, ct);
                }
                finally { _concurrency.Release(); }

                if (attempt.Retry.Count == 0) { _penalties.Clear(routeKey); return; }
                // Nobody reachable, or greylisted: hold the envelopes here for a growing delay,
                // then hand them back to the scheduler's back-off if it lasts.
                var next = _penalties.Penalize(routeKey, _time.GetUtcNow());
                _log.Info($"smtp-out: route {domain} ({dispatcher}) penalized until {next:HH:mm:ss}: {attempt.Error}");
                if (next - heldSince > MaxHold) { Report(attempt.Retry, Outcome.TempFail(attempt.Error), null); return; }
                envelopes = attempt.Retry;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Report(envelopes, Outcome.TempFail($"Cannot read the message: {ex.Message}"), null);
        }
    }

    /// <summary>What one pass over a route left to do: envelopes to try again, and why.</summary>
    sealed record RouteAttempt(List<Envelope> Retry, string Error)
    {
        public static readonly RouteAttempt Done = new([], "");
    }

    async Task<RouteAttempt> TransferAsync(Route route, ActionConfig action, List<Envelope> envelopes, CancellationToken ct)
    {
        string lastError = "No MX could be reached";
        bool certificatesOnly = route.Hosts.Count > 0; // every host failed its certificate check
        var now = _time.GetUtcNow();
        // Hosts marked broken are tried only when nothing else is left.
        var hosts = route.Hosts.Where(h => !IsBroken(h.Host, h.Port, now)).Concat(route.Hosts.Where(h => IsBroken(h.Host, h.Port, now))).ToList();
        foreach (var hop in hosts)
        {
            IReadOnlyList<IPAddress> addresses;
            try { addresses = await _dns.ResolveHostAsync(hop.Host, ct); }
            catch (DnsTempFailException ex) { lastError = ex.Message; certificatesOnly = false; continue; }
            if (addresses.Count == 0) { lastError = $"No address for {hop.Host}"; certificatesOnly = false; continue; }

            foreach (var address in addresses)
            {
                var endpoint = new IPEndPoint(address, hop.Port);
                var connections = _hosts.GetOrAdd(route.Options.Key(endpoint, hop.Host), _ => new HostConnections(hop.Host, endpoint));
                SmtpClientSession session;
                try
                {
                    session = await connections.AcquireAsync(
                        () => SmtpClientSession.OpenAsync(endpoint, hop.Host, route.Options, _log, ct),
                        TimeSpan.FromMinutes(5), ct);
                }
                catch (MtaException ex)
                {
                    _log.Info($"smtp-out: Error on session with {hop.Host} [{address}]: {ex.Message}");
                    lastError = $"{hop.Host} [{address}]: {ex.Message}";
                    // Even a 5xx banner or HELO is the host's fault, not the mail's (OpenSMTPD's mta_error).
                    MarkBroken(hop.Host, hop.Port);
                    certificatesOnly &= ex is PeerCertificateException;
                    continue;
                }
                return await SendAsync(session, connections, action, envelopes, ct);
            }
        }
        // A certificate does not mend within the minutes the route would hold the mail here:
        // the envelopes go back to the scheduler at once, the reason in their queue line.
        if (certificatesOnly) { Report(envelopes, Outcome.TempFail(lastError), null); return RouteAttempt.Done; }
        return new RouteAttempt(envelopes, lastError);
    }

    async Task<RouteAttempt> SendAsync(SmtpClientSession session, HostConnections connections, ActionConfig action, List<Envelope> envelopes, CancellationToken ct)
    {
        var first = envelopes[0];
        // "as" / "mail-from" rewrites the sender, never a bounce's empty one.
        string sender = first.Sender.Length > 0 && action.MailFrom is { } from ? from : first.Sender;
        bool delivered = false;
        try
        {
            await using var message = _queue.MessageReadStream(first.MessageId);
            var dsn = new SmtpClientSession.Dsn(first.DsnRet, first.DsnEnvid, envelopes.Select(e => (e.DsnNotify, e.DsnOrcpt)).ToList());
            var replies = await session.TransferAsync(sender, envelopes.Select(e => e.Dest).ToList(), message, message.CanSeek ? message.Length : 0, ct, dsn);
            // Every recipient deferred at once, or too many in a row, is how greylisting looks
            // (seed 003): the route waits, the mail stays here, nobody is hammered. Only a 5xx
            // among them is final.
            if (session.RecipientsAllDeferred || session.TooManyRecipientFailures)
            {
                string stat = replies.First(r => !r.IsPositive).Text;
                _log.Info($"{session.Id:x16} mta greylisted relay=\"{session.Relay}\" rcpts={replies.Count} stat=\"{stat}\"");
                var retry = new List<Envelope>();
                for (int i = 0; i < envelopes.Count; i++)
                    if (replies[i].IsPermanent) Report([envelopes[i]], replies[i].Outcome, session);
                    else retry.Add(envelopes[i]);
                return new RouteAttempt(retry, $"{session.Relay}: {stat}");
            }
            for (int i = 0; i < envelopes.Count; i++)
            {
                // A next hop that speaks DSN reports success to the sender itself (RFC 3461 4.3).
                var e = session.SupportsDsn ? envelopes[i] with { DsnNotify = envelopes[i].DsnNotify & ~DsnNotify.Success } : envelopes[i];
                Report([e], replies[i].Outcome, session);
                delivered |= replies[i].IsPositive;
            }
            return RouteAttempt.Done;
        }
        catch (MtaException ex)
        {
            // Lost mid-transaction: nothing was confirmed, so everything is tried again later.
            _log.Info($"{session.Id:x16} mta error reason={ex.Message}");
            Report(envelopes, Outcome.TempFail($"{session.Relay}: {ex.Message}"), session);
            return RouteAttempt.Done;
        }
        finally { connections.Release(session, delivered); }
    }

    /// <summary>A next hop (host and port) that failed to connect or greet is avoided for a while.</summary>
    bool IsBroken(string host, int port, DateTimeOffset now) => _brokenUntil.TryGetValue($"{host}:{port}", out var until) && until > now;

    void MarkBroken(string host, int port) => _brokenUntil[$"{host}:{port}"] = _time.GetUtcNow() + BrokenFor;

    void Report(IEnumerable<Envelope> envelopes, Outcome outcome, SmtpClientSession? session)
    {
        foreach (var e in envelopes)
        {
            var delay = _time.GetUtcNow() - e.CreationTime;
            string id = session is null ? $"{e.Id:x16}" : $"{session.Id:x16}";
            _log.Info($"{id} mta delivery evpid={e.Id:x16} from=<{e.Sender}> to=<{e.Dest}> rcpt=<{e.Rcpt}> source=\"{session?.Source}\" relay=\"{session?.Relay}\" delay={Durations.Format(delay)} result={outcome.ResultWord} stat=\"{outcome.Text}\"");
            _bus.Post(outcome.Kind switch
            {
                OutcomeKind.Ok => new QueueDeliveryOk(e, outcome.Text),
                OutcomeKind.PermFail => (QueueMessage)new QueueDeliveryPermFail(e, outcome.Text),
                _ => new QueueDeliveryTempFail(e, outcome.Text),
            });
        }
    }

    /// <summary>
    /// <c>smtpctl show routes</c> in OpenSMTPD's format: one line per next hop ("source &lt;-&gt;
    /// address (host)", flags N new, D disabled, Q waiting, K kept alive, connections, errors,
    /// penalty and time until usable), then the routes (action|domain) that are penalized.
    /// </summary>
    public IReadOnlyList<string> ShowRoutes(DateTimeOffset now)
    {
        var lines = new List<string>();
        int n = 0;
        foreach (var h in _hosts.Values.OrderBy(h => h.HostName, StringComparer.Ordinal))
        {
            bool disabled = IsBroken(h.HostName, h.Endpoint.Port, now);
            string flags = $"{(h.New ? 'N' : '-')}{(disabled ? 'D' : '-')}{(h.Waiting > 0 ? 'Q' : '-')}{(h.Idle > 0 ? 'K' : '-')}";
            string timeout = disabled ? Durations.Format(_brokenUntil[$"{h.HostName}:{h.Endpoint.Port}"] - now) : "-";
            lines.Add($"{++n}. [local] <-> {h.Endpoint} ({h.HostName}) {flags} nconn={h.Open} nerror={h.Errors} penalty={(disabled ? 1 : 0)} timeout={timeout}");
        }
        foreach (var (route, (count, until)) in _penalties.Snapshot().Where(p => p.Value.Until > now).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            string[] parts = route.Split('|');
            lines.Add($"{++n}. [local] <-> {parts[1]} (action {parts[0]}) --Q- nconn=0 nerror={count} penalty={count} timeout={Durations.Format(until - now)}");
        }
        return lines;
    }


}
