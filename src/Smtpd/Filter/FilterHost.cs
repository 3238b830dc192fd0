using System.Net;
using Smtpd.Config;
using Smtpd.Table;

namespace Smtpd.Filter;

/// <summary>
/// The filter component (lka_filter.c): owns the filter processes (started with the daemon,
/// restarted when they die), the built-in filters and, for each filter a listener names, its
/// chain. An SMTP session on a filtered listener gets a <see cref="FilterSession"/> from it.
/// Nothing here runs for a listener without a filter.
/// </summary>
public sealed class FilterHost : IAsyncDisposable
{
    /// <summary>One filter of a chain, with the token that names it in requests.</summary>
    internal abstract record Entry(string Name, ulong Token)
    {
        internal sealed record Proc(string Name, ulong Token, FilterProcess Process) : Entry(Name, Token);
        internal sealed record Builtin(string Name, ulong Token, BuiltinFilter Filter) : Entry(Name, Token);
        internal sealed record Dkim(string Name, ulong Token, DkimSignFilter Filter) : Entry(Name, Token);
        internal sealed record Milter(string Name, ulong Token, FilterSpec.Milter Spec) : Entry(Name, Token);
    }

    readonly Dictionary<string, FilterProcess> _processes = new(StringComparer.Ordinal);
    readonly Dictionary<string, IReadOnlyList<Entry>> _chains = new(StringComparer.Ordinal);

    /// <exception cref="FilterException">A DKIM key cannot be used.</exception>
    /// <param name="time">The clock filter timeouts and restarts count on.</param>
    /// <param name="files">Where DKIM keys are read from (<see cref="Reload.CheckedConfig.Files"/>); null: the disk.</param>
    public FilterHost(Ruleset ruleset, TableSet tables, SmtpdLog log, TimeSpan timeout, TimeProvider? time = null, ConfigFiles? files = null)
    {
        Log = log;
        Timeout = timeout;
        Time = time ?? TimeProvider.System;
        string admd = ruleset.Admd ?? ruleset.Hostname;
        foreach (var (name, proc) in ruleset.Procs)
            _processes["proc:" + name] = new FilterProcess(name, ((FilterSpec.Process)proc.Spec).Command, admd, log, timeout, Time);
        foreach (var (name, filter) in ruleset.Filters)
            if (filter.Spec is FilterSpec.Process p)
                _processes["filter:" + name] = new FilterProcess(name, p.Command, admd, log, timeout, Time);

        var single = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var (name, filter) in ruleset.Filters)
        {
            ulong token = NewId();
            Entry? entry = filter.Spec switch
            {
                FilterSpec.Process => new Entry.Proc(name, token, _processes["filter:" + name]),
                FilterSpec.UsesProc u => new Entry.Proc(name, token, _processes["proc:" + u.Proc]),
                FilterSpec.Builtin b => new Entry.Builtin(name, token, new BuiltinFilter(name, b, tables)),
                FilterSpec.DkimSign d => new Entry.Dkim(name, token, new DkimSignFilter(name, d, files)),
                FilterSpec.Milter m => new Entry.Milter(name, token, m),
                _ => null,
            };
            if (entry is not null) single[name] = entry;
        }
        foreach (var (name, filter) in ruleset.Filters)
            _chains[name] = filter.Spec is FilterSpec.Chain chain
                // Each member of a chain is an entry of its own (lka_filter_ready gives each a new id).
                ? chain.Filters.Select(f => single[f] with { Token = NewId() }).ToList()
                : [single[name]];
        // A milter has its command timeout per body chunk, then its end-of-message timeout.
        DataTimeout = ruleset.Filters.Values.Select(f => f.Spec).OfType<FilterSpec.Milter>()
            .Select(m => m.CommandTimeout + m.EomTimeout).Append(timeout).Max();
    }

    /// <summary>What <c>smtpd -n</c> can check without starting anything: every DKIM key can be used.</summary>
    /// <exception cref="FilterException">One cannot.</exception>
    /// <param name="files">Where DKIM keys are read from; null: the disk.</param>
    public static void Check(Ruleset ruleset, ConfigFiles? files = null)
    {
        foreach (var (name, filter) in ruleset.Filters)
            if (filter.Spec is FilterSpec.DkimSign d) _ = new DkimSignFilter(name, d, files);
    }

    public SmtpdLog Log { get; }
    /// <summary>Where decisions are counted by filter name (the metrics' smtpd_filter_verdicts_total).</summary>
    public Stats.IStatBackend? Stats { get; init; }

    /// <summary>How long a filter may take to register, to answer a request, or to give back a
    /// message once it has all of it; then it is killed and restarted.</summary>
    public TimeSpan Timeout { get; }
    /// <summary>How long, once the client's message is all in, the filters may take to give it back.</summary>
    public TimeSpan DataTimeout { get; }
    public TimeProvider Time { get; }

    internal static ulong NewId() => SecureRandom.NextUInt64();

    /// <summary>Starts every filter process and waits until each has registered.</summary>
    /// <exception cref="FilterException">One cannot be started or did not register.</exception>
    public async Task StartAsync()
    {
        foreach (var process in _processes.Values)
            await process.InstanceAsync();
    }

    /// <summary>
    /// A session on a listener with <c>filter NAME</c>: binds it to the current instance of each
    /// process of the chain (waiting for one being restarted). <paramref name="name"/> is the client's
    /// reverse name as the session looked it up (the daemon's one resolver).
    /// </summary>
    /// <exception cref="FilterException">A process of the chain is not available.</exception>
    public async Task<FilterSession> BeginAsync(string filter, ulong sessionId, IPEndPoint? remote, IPEndPoint? local,
        Lookup.Dns.ReverseName name, CancellationToken ct)
    {
        var entries = _chains[filter];
        var bound = new List<(Entry, FilterProcessInstance?)>();
        foreach (var entry in entries)
        {
            try { bound.Add((entry, entry is Entry.Proc p ? await p.Process.InstanceAsync().WaitAsync(Timeout, ct) : null)); }
            catch (TimeoutException) { throw new FilterException($"filter {entry.Name}: not ready within {Timeout.TotalSeconds:0} s"); }
        }
        return new FilterSession(this, sessionId, bound, remote, local, name.Name, name.Confirmed);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes.Values) await process.DisposeAsync();
    }
}
