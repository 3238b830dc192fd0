using System.Net;

namespace Smtpd.Mta;

// What smtpctl shows of the MTA (show routes, hosts, relays, hoststats) and resume route.
public sealed partial class MtaProcess
{
    /// <summary><c>smtpctl show hoststats</c>: domain|time|last result, by domain.</summary>
    public IReadOnlyList<string> ShowHostStats(DateTimeOffset now) => _hostStats.Lines(now);

    ulong RouteId(string key) => _routeIds.GetOrAdd(key, _ => (ulong)Interlocked.Increment(ref _lastRouteId));

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
    /// <c>smtpctl show routes</c> in OpenSMTPD's format: one line per next-hop address ("[]" for
    /// no chosen source address &lt;-&gt; address (reverse name)); flags N never connected,
    /// D disabled (a next hop there failed to connect or greet), Q sessions waiting, K none open
    /// now; connections, errors, disabled next hops there and the time until usable.
    /// </summary>
    public IReadOnlyList<string> ShowRoutes(DateTimeOffset now)
    {
        var lines = new List<(ulong Id, string Line)>();
        foreach (var group in _hosts.Values.GroupBy(h => h.Endpoint.Address))
        {
            var broken = group.Select(h => _brokenUntil.TryGetValue($"{h.HostName}:{h.Endpoint.Port}", out var u) ? u : DateTimeOffset.MinValue)
                .Where(u => u > now).ToList();
            bool connected = _lastConnected.ContainsKey(group.Key);
            int open = group.Sum(h => h.Open);
            string flags = $"{(connected ? '-' : 'N')}{(broken.Count > 0 ? 'D' : '-')}{(group.Any(h => h.Waiting > 0) ? 'Q' : '-')}{(connected && open == 0 ? 'K' : '-')}";
            string timeout = broken.Count > 0 ? Durations.Format(broken.Max() - now) : "-";
            ulong id = RouteId($"hop {group.Key}");
            lines.Add((id, $"{id}. [] <-> {HostText(group.Key)} {flags} nconn={open} nerror={group.Sum(h => h.Errors)} penalty={broken.Count} timeout={timeout}"));
        }
        return lines.OrderBy(l => l.Id).Select(l => l.Line).ToList();
    }

    /// <summary>
    /// <c>smtpctl show hosts</c> in OpenSMTPD's format: each next-hop address, its reverse name,
    /// how many next hops (port and options) end there, connections open, and how long since the last opened.
    /// </summary>
    public IReadOnlyList<string> ShowHosts(DateTimeOffset now) =>
        _hosts.Values.GroupBy(h => h.Endpoint.Address).OrderBy(g => g.Key.ToString(), StringComparer.Ordinal)
            .Select(g => $"{g.Key} {_ptrNames.GetValueOrDefault(g.Key) ?? g.Key.ToString()} refcount={g.Count()} nconn={g.Sum(h => h.Open)} lastconn={(_lastConnected.TryGetValue(g.Key, out var at) ? Durations.Format(now - at) : "-")}")
            .ToList();

    /// <summary>
    /// <c>smtpctl show relays</c>: OpenSMTPD lists its relays and their connectors; we have no
    /// connectors, and what waits is a route (action and domain) the MTA penalized: one line each,
    /// with its failures in a row, the time until it is tried again, and its id for resume route.
    /// </summary>
    public IReadOnlyList<string> ShowRelays(DateTimeOffset now) =>
        _penalties.Snapshot().Where(p => p.Value.Until > now).OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => (Parts: p.Key.Split('|'), Id: RouteId($"route {p.Key}"), p.Value.Count, p.Value.Until))
            .Select(r => $"[relay:{r.Parts[1]},action={r.Parts[0]}] nerror={r.Count} timeout={Durations.Format(r.Until - now)} route={r.Id}")
            .ToList();

    string HostText(IPAddress address) => _ptrNames.TryGetValue(address, out var name) && name.Length > 0 ? $"{address} ({name})" : $"{address}";
}
