using System.Collections.Concurrent;
using System.Net;
using Smtpd.Config;
using Smtpd.Lookup.Dns;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Mta;

/// <summary>
/// The relaying component (OpenSMTPD's mta). Each transfer from the queue is split by route
/// (action and destination domain); all recipients of a message for one route go in one
/// transaction. Next hops are tried in MX order; a host that fails to connect or greet is
/// marked broken for a while and new sessions go elsewhere; failures that are the host's fault
/// are temporary for the mail. Sessions are kept per next hop and reused, across domains.
/// Promise: every envelope handed here comes back to the queue with an outcome (or, untried,
/// to the scheduler) once its attempt is over, an unexpected error included: none is kept here,
/// so <c>smtpctl show queue</c> tells the truth and every admin verb reaches it. A route that
/// fails is penalized; its envelopes come back to be tried when the penalty ends.
/// </summary>
public sealed partial class MtaProcess
{
    static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(10);
    static readonly TimeSpan BrokenFor = TimeSpan.FromSeconds(60);
    const int MaxConcurrentRoutes = 100;
    /// <summary>
    /// For this long after a route starts failing, its envelopes are tried again when its penalty
    /// ends (a greylisting peer lets them in after a few minutes); past it, at the scheduler's
    /// back-off slots.
    /// </summary>
    static readonly TimeSpan QuickRetries = TimeSpan.FromMinutes(5);
    /// <summary>Cancellations (<c>smtpctl remove</c>) of envelopes never seen here are forgotten after this long.</summary>
    static readonly TimeSpan CancelMemory = TimeSpan.FromHours(1);

    /// <summary>An envelope's action by the name it carries, with the route planner of the configuration defining it.</summary>
    readonly Func<string, (ActionConfig Action, RoutePlanner Planner)?> _actions;
    readonly Func<RoutePlanner> _currentPlanner;
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
    /// <summary>Envelopes removed while in flight here, and when the scheduler said so.</summary>
    readonly ConcurrentDictionary<ulong, DateTimeOffset> _cancelled = new();
    /// <summary>Envelopes handed here whose outcome has not been reported yet.</summary>
    readonly ConcurrentDictionary<ulong, bool> _outstanding = new();
    /// <summary>The last result per destination domain (<c>smtpctl show hoststats</c>).</summary>
    readonly HostStats _hostStats = new();
    /// <summary>
    /// The ids <c>show routes</c> gives next hops ("hop ADDRESS") and penalized routes ("route
    /// action|domain"), for <c>resume route</c>. Touched only on the MTA's loop.
    /// </summary>
    readonly Dictionary<string, ulong> _routeIds = new(StringComparer.Ordinal);
    ulong _lastRouteId;
    /// <summary>Next-hop addresses: their reverse names and when a session to them last opened (show hosts, show routes).</summary>
    readonly ConcurrentDictionary<IPAddress, string> _ptrNames = new();
    readonly ConcurrentDictionary<IPAddress, DateTimeOffset> _lastConnected = new();

    /// <summary>One fixed configuration (tests of the MTA alone).</summary>
    public MtaProcess(Ruleset ruleset, Table.TableSet tables, IDnsResolver dns, IQueueBackend queue, Bus bus, TimeProvider time, SmtpdLog log, SmtpdSettings? settings = null)
        : this(new RoutePlanner(ruleset, tables, dns, settings, time, log: log), ruleset, dns, queue, bus, time, log)
    {
    }

    MtaProcess(RoutePlanner planner, Ruleset ruleset, IDnsResolver dns, IQueueBackend queue, Bus bus, TimeProvider time, SmtpdLog log)
        : this(Fixed(ruleset, planner), () => planner, dns, queue, bus, time, log)
    {
    }

    /// <summary>
    /// The daemon's MTA: each relay uses the current definition of the envelope's action (a
    /// reload that corrects a relay host applies to mail already queued), planned with the
    /// tables and CAs of the configuration that defines it.
    /// </summary>
    public MtaProcess(Reload.LiveConfig config, IDnsResolver dns, IQueueBackend queue, Bus bus, TimeProvider time, SmtpdLog log, SmtpdSettings? settings = null)
        : this(Live(config, dns, settings, time, log, out var current), current, dns, queue, bus, time, log)
    {
    }

    static Func<string, (ActionConfig, RoutePlanner)?> Fixed(Ruleset ruleset, RoutePlanner planner) =>
        name => ruleset.Actions.TryGetValue(name, out var action) ? (action, planner) : null;

    /// <param name="current">The planner of the configuration in force (what <c>show tls-policy</c> asks).</param>
    static Func<string, (ActionConfig, RoutePlanner)?> Live(Reload.LiveConfig config, IDnsResolver dns, SmtpdSettings? settings, TimeProvider time, SmtpdLog log, out Func<RoutePlanner> current)
    {
        var planners = new System.Runtime.CompilerServices.ConditionalWeakTable<Reload.ConfigGeneration, RoutePlanner>();
        // One MTA-STS web client and cache for all generations: a reload forgets no policy.
        var sts = TlsPolicy.Sts.StsLookup.For(dns, settings ?? SmtpdSettings.Default, time, log);
        RoutePlanner Planner(Reload.ConfigGeneration generation) =>
            planners.GetValue(generation, g => new RoutePlanner(g.Ruleset, g.Tables, dns, settings, time, g.Config.RelayCas, log, sts));
        current = () => Planner(config.Current);
        return name => config.Action(name) is var (action, generation) ? (action, Planner(generation)) : null;
    }

    MtaProcess(Func<string, (ActionConfig, RoutePlanner)?> actions, Func<RoutePlanner> currentPlanner, IDnsResolver dns, IQueueBackend queue, Bus bus, TimeProvider time, SmtpdLog log)
    {
        _actions = actions;
        _currentPlanner = currentPlanner;
        _dns = dns;
        _queue = queue;
        _bus = bus;
        _time = time;
        _log = log;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        using var reaper = new PeriodicTimer(TimeSpan.FromSeconds(1), _time);
        var reaping = ReapIdleAsync(reaper, ct);
        try
        {
            var held = new List<MtaTransfer>();
            bool paused = false;
            await foreach (var message in _bus.Mta.Reader.ReadAllAsync(ct))
            {
                await _bus.ChaosPauseAsync("mta", ct);
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                switch (message)
                {
                    case MtaPause p:
                        paused = p.Paused;
                        _log.Info($"info: mta {(paused ? "paused" : "resumed")}");
                        if (!paused) { foreach (var h in held) Start(h, ct); held.Clear(); }
                        break;
                    case MtaResumeRoute r:
                        ResumeRoute(r.Id);
                        break;
                    case MtaCancel c:
                        try { NoteCancelled(c.Evpids); c.Noted.Answer(true); }
                        catch (Exception ex) { c.Noted.Fail(ex); throw; }
                        break;
                    case MtaShow s:
                        // Read-only: a failure is the admin's to see, the loop goes on.
                        try { s.Reply.Answer(Show(s.View, _time.GetUtcNow())); }
                        catch (Exception ex)
                        {
                            s.Reply.Fail(ex);
                            _log.Warn($"mta: unexpected error handling {nameof(MtaShow)}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                        }
                        break;
                    case MtaShowTlsPolicy p:
                        // DNS lookups: answered off the loop, which goes on relaying meanwhile.
                        _ = ShowTlsPolicyAsync(p, ct);
                        break;
                    case MtaRoutes r:
                        try { r.Reply.Answer(Routes(_time.GetUtcNow())); }
                        catch (Exception ex)
                        {
                            r.Reply.Fail(ex);
                            _log.Warn($"mta: unexpected error handling {nameof(MtaRoutes)}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                        }
                        break;
                    case MtaTransfer transfer:
                        foreach (var e in transfer.Envelopes) _outstanding[e.Id] = true;
                        try
                        {
                            if (paused) held.Add(transfer);
                            else Start(transfer, ct);
                        }
                        catch (Exception ex)
                        {
                            _log.Warn($"mta: unexpected error starting a transfer: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                            ReportUnreported([.. transfer.Envelopes], $"Internal error: {SystemErrors.Describe(ex)}");
                        }
                        _bus.Profile("mta", nameof(MtaTransfer), started);
                        break;
                }
            }
        }
        catch (OperationCanceledException) { }
        await Task.WhenAny(Task.WhenAll(_running.Keys), Task.Delay(TimeSpan.FromSeconds(5), _time));
        foreach (var host in _hosts.Values)
            foreach (var s in host.TakeIdle(TimeSpan.Zero, DateTimeOffset.MaxValue))
                await s.QuitAsync("shutdown");
        await reaping;
    }

    void NoteCancelled(IReadOnlyList<ulong> evpids)
    {
        var now = _time.GetUtcNow();
        foreach (var (id, at) in _cancelled)
            if (now - at > CancelMemory) _cancelled.TryRemove(id, out _);
        foreach (var id in evpids) _cancelled[id] = now;
    }

    /// <summary>Splits a transfer by route (action and domain) and starts each.</summary>
    void Start(MtaTransfer transfer, CancellationToken ct)
    {
        foreach (var group in transfer.Envelopes.GroupBy(e => (e.Dispatcher, Domain: DomainOf(e.Dest).ToLowerInvariant())))
        {
            var envelopes = group.ToList();
            var task = DeliverGroupAsync(group.Key.Dispatcher, group.Key.Domain, envelopes, ct);
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
                    foreach (var s in host.TakeIdle(IdleTimeout, _time.GetUtcNow()))
                        await s.QuitAsync("timeout");
        }
        catch (OperationCanceledException) { }
    }

    static string DomainOf(string address)
    {
        int at = address.LastIndexOf('@');
        return at < 0 ? "" : address[(at + 1)..];
    }

    /// <summary>
    /// One attempt for the envelopes of one route. Whatever happens, each envelope is reported
    /// before this returns: delivered, failed, deferred untried, or, on an unexpected error, a
    /// temporary failure with the error logged.
    /// </summary>
    async Task DeliverGroupAsync(string dispatcher, string domain, List<Envelope> envelopes, CancellationToken ct)
    {
        try
        {
            if (_actions(dispatcher) is not var (action, planner))
            {
                Report(envelopes, Outcome.TempFail($"No action {dispatcher} in the configuration"), null);
                return;
            }
            if (_bus.Chaos is { } monkey)
            {
                await monkey.PauseAsync("mta.deliver", ct);
                if (monkey.Fails("mta.deliver")) { Report(envelopes, Outcome.TempFail("chaos: injected relay failure"), null); return; }
            }
            envelopes = WithoutCancelled(envelopes, "not tried");
            if (envelopes.Count == 0) return;

            string routeKey = $"{dispatcher}|{domain}";
            // A penalized route is not hammered: its envelopes wait in the scheduler, untried.
            var until = _penalties.Until(routeKey);
            if (until > _time.GetUtcNow()) { Defer(envelopes, until, domain); return; }

            RouteAttempt attempt;
            await _concurrency.WaitAsync(ct);
            try
            {
                _bus.Chaos?.ThrowIfAsked("mta.route");
                var route = await planner.PlanAsync(action, domain, ct);
                if (route.Failure is { } failure) { RecordRouteFailure(route); Report(envelopes, failure, null); return; }
                attempt = await TransferAsync(route, action, envelopes, ct);
            }
            finally { _concurrency.Release(); }

            if (attempt.Retry.Count == 0) { _penalties.Clear(routeKey); return; }
            // Nobody reachable, or greylisted: the route waits, and its envelopes go back to the
            // scheduler now (retry count and error recorded) to come back when the wait is over.
            var now = _time.GetUtcNow();
            var penalty = _penalties.Penalize(routeKey, now, out bool lengthened);
            if (lengthened) _log.Info($"smtp-out: route {domain} ({dispatcher}) penalized until {penalty.Until:HH:mm:ss}: {attempt.Error}");
            DateTimeOffset? retryAt = now - penalty.Since < QuickRetries ? penalty.Until : null;
            foreach (var e in attempt.Retry)
                Report([e], Outcome.TempFail(attempt.Texts?.GetValueOrDefault(e.Id) ?? attempt.Error), attempt.Session, retryAt);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down: what was not reported stays in the queue, tried at the next start.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ReportUnreported(envelopes, $"Cannot read the message: {SystemErrors.Describe(ex)}");
        }
        catch (Exception ex)
        {
            // Never a silent "inflight": the error is logged and the mail tried again later.
            _log.Warn($"mta: unexpected error relaying to {domain} ({dispatcher}): {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
            ReportUnreported(envelopes, $"Internal error: {SystemErrors.Describe(ex)}");
        }
    }

    /// <summary>After an error: a temporary failure for every envelope of the group not reported yet.</summary>
    void ReportUnreported(List<Envelope> envelopes, string error)
    {
        var left = envelopes.Where(e => _outstanding.ContainsKey(e.Id)).ToList();
        if (left.Count > 0) Report(left, Outcome.TempFail(error), null);
    }

    /// <summary>Envelopes removed by an admin are reported as cancelled and left out.</summary>
    List<Envelope> WithoutCancelled(List<Envelope> envelopes, string why)
    {
        if (_cancelled.IsEmpty) return envelopes;
        var live = new List<Envelope>(envelopes.Count);
        foreach (var e in envelopes)
        {
            if (_cancelled.ContainsKey(e.Id)) Cancel(e, why);
            else live.Add(e);
        }
        return live;
    }

    void Cancel(Envelope e, string outcome)
    {
        _cancelled.TryRemove(e.Id, out _);
        _outstanding.TryRemove(e.Id, out _);
        _log.Info($"{e.Id:x16} mta cancelled evpid={e.Id:x16} to=<{e.Dest}> outcome=\"{outcome}\" (removed by smtpctl)");
        _bus.Post(new QueueDeliveryCancelled(e, outcome));
    }

    /// <summary>Hands envelopes back to the scheduler untried, to come back when the route's penalty ends.</summary>
    void Defer(List<Envelope> envelopes, DateTimeOffset until, string domain)
    {
        foreach (var e in envelopes)
        {
            _outstanding.TryRemove(e.Id, out _);
            _log.Debug($"{e.Id:x16} mta deferred evpid={e.Id:x16} route={domain} until={until:HH:mm:ss} (route penalized)");
        }
        _bus.Post(new SchedulerDefer(envelopes.Select(e => e.Id).ToList(), until));
    }

    /// <summary>What one pass over a route left to do: envelopes to try again, and why (per envelope when the peer said).</summary>
    sealed record RouteAttempt(List<Envelope> Retry, string Error, Dictionary<ulong, string>? Texts = null, SmtpClientSession? Session = null)
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
                var options = route.Options.For(hop);
                var connections = _hosts.GetOrAdd(options.Key(endpoint, hop.Host), _ => new HostConnections(hop.Host, endpoint) { Relay = RelayText(route, hop), Time = _time });
                SmtpClientSession session;
                try
                {
                    session = await connections.AcquireAsync(
                        async () =>
                        {
                            var opened = await SmtpClientSession.OpenAsync(endpoint, hop.Host, await PtrNameAsync(address, ct), options, _log, ct);
                            _lastConnected[address] = _time.GetUtcNow();
                            if (opened.TlsVersion is { } version) _bus.Stats.TlsSession("out", version);
                            return opened;
                        },
                        TimeSpan.FromMinutes(5), ct);
                }
                catch (MtaException ex)
                {
                    _log.Info($"smtp-out: Error on session with {hop.Host} [{address}]: {ex.Message}");
                    RecordSessionFailure(route, hop, address, ex);
                    lastError = $"{hop.Host} [{address}]: {ex.Message}";
                    // Even a 5xx banner or HELO is the host's fault, not the mail's (OpenSMTPD's mta_error).
                    MarkBroken(hop.Host, hop.Port);
                    certificatesOnly &= ex is PeerCertificateException;
                    continue;
                }
                RecordSessionUsed(route, hop, session);
                return await SendAsync(session, connections, action, envelopes, ct);
            }
        }
        // A certificate does not mend within the route's quick retries: the envelopes go back to
        // the scheduler's back-off instead, the reason in their queue line.
        if (certificatesOnly) { Report(envelopes, Outcome.TempFail(lastError), null); return RouteAttempt.Done; }
        return new RouteAttempt(envelopes, lastError);
    }

    async Task<RouteAttempt> SendAsync(SmtpClientSession session, HostConnections connections, ActionConfig action, List<Envelope> envelopes, CancellationToken ct)
    {
        bool delivered = false;
        try
        {
            // The last moment a removed envelope can be left out: no MAIL FROM has been sent for it.
            envelopes = WithoutCancelled(envelopes, "not sent");
            if (envelopes.Count == 0) return RouteAttempt.Done;
            var first = envelopes[0];
            // "as" / "mail-from" rewrites the sender, never a bounce's empty one.
            string sender = first.Sender.Length > 0 && action.MailFrom is { } from ? from : first.Sender;
            await using var message = _queue.MessageReadStream(first.MessageId);
            var dsn = new SmtpClientSession.Dsn(first.DsnRet, first.DsnEnvid, envelopes.Select(e => (e.DsnNotify, e.DsnOrcpt)).ToList());
            var replies = await session.TransferAsync(sender, envelopes.Select(e => e.Dest).ToList(), message, message.CanSeek ? message.Length : 0, ct, dsn);
            // Every recipient deferred at once, or too many in a row, is how greylisting looks
            // (seed 003): the route waits, nobody is hammered. Only a 5xx among them is final.
            if (session.RecipientsAllDeferred || session.TooManyRecipientFailures)
            {
                string stat = replies.First(r => !r.IsPositive).Text;
                _log.Info($"{session.Id:x16} mta greylisted relay=\"{session.Relay}\" rcpts={replies.Count} stat=\"{stat}\"");
                var retry = new List<Envelope>();
                var texts = new Dictionary<ulong, string>();
                for (int i = 0; i < envelopes.Count; i++)
                    if (replies[i].IsPermanent) Report([envelopes[i]], replies[i].Outcome, session);
                    else { retry.Add(envelopes[i]); texts[envelopes[i].Id] = replies[i].Text; }
                return new RouteAttempt(retry, $"{session.Relay}: {stat}", texts, session);
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

    /// <summary>A next hop's reverse name, for the log lines (OpenSMTPD's mta_host ptrname); null when it has none.</summary>
    async Task<string?> PtrNameAsync(IPAddress address, CancellationToken ct)
    {
        var reverse = await _dns.ReverseAsync(address, ct);
        if (reverse.Name is { } name) _ptrNames[address] = name;
        return reverse.Name;
    }

    /// <summary>A next hop (host and port) that failed to connect or greet is avoided for a while.</summary>
    bool IsBroken(string host, int port, DateTimeOffset now) => _brokenUntil.TryGetValue($"{host}:{port}", out var until) && until > now;

    void MarkBroken(string host, int port) => _brokenUntil[$"{host}:{port}"] = _time.GetUtcNow() + BrokenFor;

    /// <summary>
    /// Logs and hands the outcome to the queue. An envelope removed by an admin meanwhile is
    /// discarded instead, unless it was delivered (a 250 from the peer cannot be taken back).
    /// </summary>
    void Report(IEnumerable<Envelope> envelopes, Outcome outcome, SmtpClientSession? session, DateTimeOffset? retryAt = null)
    {
        foreach (var e in envelopes)
        {
            if (!outcome.IsOk && _cancelled.ContainsKey(e.Id)) { Cancel(e, $"{outcome.ResultWord}: {outcome.Text}"); continue; }
            _cancelled.TryRemove(e.Id, out _);
            _outstanding.TryRemove(e.Id, out _);
            _hostStats.Update(DomainOf(e.Dest), outcome.Text, _time.GetUtcNow());
            var delay = _time.GetUtcNow() - e.CreationTime;
            string id = session is null ? $"{e.Id:x16}" : $"{session.Id:x16}";
            // OpenSMTPD's mta_log: rcpt only when it differs from the destination, "-" for no source.
            string rcpt = e.Rcpt.Length > 0 && e.Rcpt != e.Dest ? e.Rcpt : "-";
            string source = session?.Source is { Length: > 0 } s ? s : "-";
            _log.Info($"{id} mta delivery evpid={e.Id:x16} from=<{e.Sender}> to=<{e.Dest}> rcpt=<{rcpt}> source=\"{source}\" relay=\"{session?.Relay ?? "-"}\" tls={session?.TlsLabel ?? "-"} delay={Durations.Format(delay)} result=\"{outcome.ResultWord}\" stat=\"{outcome.Text}\"");
            _bus.Post(outcome.Kind switch
            {
                OutcomeKind.Ok => new QueueDeliveryOk(e, outcome.Text),
                OutcomeKind.PermFail => (QueueMessage)new QueueDeliveryPermFail(e, outcome.Text),
                _ => new QueueDeliveryTempFail(e, outcome.Text, retryAt),
            });
        }
    }

    /// <summary>Sessions to next hops open now, busy or kept alive (the mta.session statistic).</summary>
    public int OpenSessions => _hosts.Values.Sum(h => h.Open);

    /// <summary>Envelopes handed to the MTA and not reported yet (OpenSMTPD's mta.envelope).</summary>
    public int Envelopes => _outstanding.Count;
}
