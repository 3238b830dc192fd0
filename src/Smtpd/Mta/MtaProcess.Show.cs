using System.Net;

namespace Smtpd.Mta;

// What smtpctl shows of the MTA (show routes, hosts, relays, hoststats) and resume route,
// asked by messages (MtaShow, MtaResumeRoute) and answered on the MTA's loop.
public sealed partial class MtaProcess
{
    IReadOnlyList<string> Show(MtaView view, DateTimeOffset now) => view switch
    {
        MtaView.Routes => Routes(now).Select(r => r.Line()).ToList(),
        MtaView.Hosts => ShowHosts(now),
        MtaView.Relays => ShowRelays(now),
        MtaView.HostStats => ShowHostStats(now),
        _ => throw new ArgumentOutOfRangeException(nameof(view)),
    };

    /// <summary><c>smtpctl show tls-policy DOMAIN</c>: found as a relay by MX would find it now.</summary>
    async Task ShowTlsPolicyAsync(MtaShowTlsPolicy request, CancellationToken ct)
    {
        try { request.Reply.Answer((await _currentPlanner().TlsPolicyAsync(request.Domain, ct)).Lines()); }
        catch (Exception ex)
        {
            request.Reply.Fail(ex);
            if (ex is not OperationCanceledException)
                _log.Warn($"mta: unexpected error handling {nameof(MtaShowTlsPolicy)}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
        }
    }

    /// <summary><c>smtpctl show hoststats</c>: domain|time|last result, by domain.</summary>
    IReadOnlyList<string> ShowHostStats(DateTimeOffset now) => _hostStats.Lines(now);

    ulong RouteId(string key)
    {
        if (!_routeIds.TryGetValue(key, out ulong id)) _routeIds[key] = id = ++_lastRouteId;
        return id;
    }

    /// <summary><c>smtpctl resume route</c>: the next hop or route with that id (0: all) is usable again now.</summary>
    void ResumeRoute(ulong id)
    {
        foreach (var (key, rid) in _routeIds)
        {
            if (id != 0 && rid != id) continue;
            bool resumed = key.StartsWith("hop ", StringComparison.Ordinal)
                ? _hosts.Values.Where(h => h.Endpoint.Address.ToString() == key[4..]).Count(h => _brokenUntil.TryRemove($"{h.HostName}:{h.Endpoint.Port}", out _)) > 0
                : _penalties.Until(key[6..]) > _time.GetUtcNow();
            if (key.StartsWith("route ", StringComparison.Ordinal)) _penalties.Clear(key[6..]);
            if (resumed) _log.Info($"smtp-out: Enabling route {rid} ({key}) per admin request");
        }
    }

    /// <summary>
    /// <c>smtpctl show routes</c>: one entry per next-hop address (flags, connections, errors,
    /// disabled next hops there and the time until usable), then each route (action and domain)
    /// penalized after failures in a row; by id, which is what resume route takes.
    /// </summary>
    IReadOnlyList<RouteState> Routes(DateTimeOffset now)
    {
        var routes = new List<RouteState>();
        foreach (var group in _hosts.Values.GroupBy(h => h.Endpoint.Address))
        {
            var broken = group.Select(h => _brokenUntil.TryGetValue($"{h.HostName}:{h.Endpoint.Port}", out var u) ? u : DateTimeOffset.MinValue)
                .Where(u => u > now).ToList();
            bool connected = _lastConnected.ContainsKey(group.Key);
            int open = group.Sum(h => h.Open);
            routes.Add(new RouteState(RouteId($"hop {group.Key}"), group.Key, _ptrNames.GetValueOrDefault(group.Key), null, null,
                NeverConnected: !connected, Disabled: broken.Count > 0, Waiting: group.Any(h => h.Waiting > 0), Idle: connected && open == 0,
                Connections: open, Errors: group.Sum(h => h.Errors), Penalty: broken.Count, Timeout: broken.Count > 0 ? broken.Max() - now : null));
        }
        foreach (var (key, p) in _penalties.Snapshot().Where(p => p.Value.Until > now))
        {
            var parts = key.Split('|');
            routes.Add(new RouteState(RouteId($"route {key}"), null, null, parts[1], parts[0],
                NeverConnected: false, Disabled: true, Waiting: false, Idle: false,
                Connections: 0, Errors: p.Count, Penalty: p.Count, Timeout: p.Until - now));
        }
        return routes.OrderBy(r => r.Id).ToList();
    }

    /// <summary>
    /// <c>smtpctl show hosts</c> in OpenSMTPD's format: each next-hop address, its reverse name,
    /// how many next hops (port and options) end there, connections open, and how long since the last opened.
    /// </summary>
    IReadOnlyList<string> ShowHosts(DateTimeOffset now) =>
        _hosts.Values.GroupBy(h => h.Endpoint.Address).OrderBy(g => g.Key.ToString(), StringComparer.Ordinal)
            .Select(g => $"{g.Key} {_ptrNames.GetValueOrDefault(g.Key) ?? g.Key.ToString()} refcount={g.Count()} nconn={g.Sum(h => h.Open)} lastconn={(_lastConnected.TryGetValue(g.Key, out var at) ? Durations.Format(now - at) : "-")}")
            .ToList();

    /// <summary>
    /// <c>smtpctl show relays</c> in OpenSMTPD's format: each relay with sessions open, messages
    /// waiting for one, or a next hop that failed, then its connector (source "[]": the system
    /// chooses). A relay is named as OpenSMTPD's (<see cref="RelayText"/>); connections are shared
    /// per next hop, so an MX relay is named by its exchanger. refcount counts users (sessions and
    /// waiting messages), ntask the waiting messages; timeout is the wait of a next hop that failed.
    /// </summary>
    IReadOnlyList<string> ShowRelays(DateTimeOffset now)
    {
        var lines = new List<string>();
        var relays = _hosts.Values.GroupBy(h => h.Relay)
            .Select(g => (Relay: g.Key, Hosts: g.ToList(), Broken: g.Select(h => _brokenUntil.TryGetValue($"{h.HostName}:{h.Endpoint.Port}", out var u) ? u : DateTimeOffset.MinValue).Max()))
            .Where(r => r.Hosts.Any(h => h.Open > 0 || h.Waiting > 0) || r.Broken > now)
            .OrderBy(r => r.Hosts[0].HostName, StringComparer.OrdinalIgnoreCase).ThenBy(r => r.Hosts[0].Endpoint.Port);
        foreach (var (relay, hosts, broken) in relays)
        {
            int open = hosts.Sum(h => h.Open), waiting = hosts.Sum(h => h.Waiting);
            var connected = hosts.Select(h => _lastConnected.TryGetValue(h.Endpoint.Address, out var at) ? at : DateTimeOffset.MinValue).Max();
            string lastconn = connected > DateTimeOffset.MinValue ? Durations.Format(now - connected) : "-";
            string timeout = broken > now ? Durations.Format(broken - now) : "-";
            string wait = waiting > 0 || broken > now ? "connector" : "";
            var flags = new List<string>();
            if (hosts.All(h => h.New) && connected == DateTimeOffset.MinValue) flags.Add("NEW");
            if (waiting > 0) flags.Add("WAIT");
            if (broken > now) flags.Add("ERROR_ROUTE_NET");
            lines.Add($"{relay} refcount={open + waiting} ntask={waiting} nconn={open} lastconn={lastconn} timeout={timeout} wait={wait}");
            lines.Add($"  connector [] refcount={waiting} nconn={open} lastconn={lastconn} timeout={timeout} flags={string.Join(',', flags)}");
        }
        return lines;
    }

    /// <summary>
    /// A relay as OpenSMTPD's mta_relay_to_text names it: the relay host (with its port when the
    /// URL gives one, and "mx" as theirs marks a relay host) or, for MX delivery, the exchanger;
    /// then the TLS mode.
    /// </summary>
    static string RelayText(Route route, NextHop hop)
    {
        string tls = route.Options.Tls switch { MtaTls.Required => "smtp+tls", MtaTls.Smtps => "smtps", MtaTls.None => "smtp+notls", _ => "smtp" };
        return route.Via is { } via
            ? $"[relay:{via.Host}{(via.Port is { } port ? $",port={port}" : "")},{tls},mx]"
            : $"[relay:{hop.Host},{tls}]";
    }
}
