using System.Globalization;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Smtpd.Filter.Milter;
using Smtpd.Table;

namespace Smtpd.Filter;

/// <summary>
/// The filters of one SMTP session (lka_filter.c's filter_session): sends the session's report
/// events to the processes that registered them, walks the chain at each phase, and streams the
/// message through the data-line filters. The SMTP session awaits each phase, so at most one
/// request per session is pending at a time. What the session knows (rdns, helo, user, sender)
/// is kept here for the built-in filters.
/// </summary>
public sealed class FilterSession
{
    readonly FilterHost _host;
    readonly IReadOnlyList<(FilterHost.Entry Entry, FilterProcessInstance? Instance)> _chain;
    readonly IReadOnlyList<FilterProcessInstance> _instances;
    /// <summary>Each milter of the chain, by its entry's token: one connection for this session.</summary>
    readonly Dictionary<ulong, MilterSession> _milters = [];

    internal FilterSession(FilterHost host, ulong id, IReadOnlyList<(FilterHost.Entry, FilterProcessInstance?)> chain,
        IPEndPoint? remote, IPEndPoint? local, string? rdns, bool fcrdns)
    {
        _host = host;
        Id = id;
        _chain = chain;
        _instances = chain.Select(c => c.Item2).OfType<FilterProcessInstance>().Distinct().ToList();
        Remote = remote;
        Local = local;
        Rdns = rdns;
        Fcrdns = fcrdns;
        foreach (var (entry, _) in chain)
            if (entry is FilterHost.Entry.Milter m)
                _milters[m.Token] = new MilterSession(m.Name, m.Spec, this, host.Log, host.Time);
    }

    public ulong Id { get; }
    public IPEndPoint? Remote { get; }
    public IPEndPoint? Local { get; }
    /// <summary>The client's reverse DNS name, or null.</summary>
    public string? Rdns { get; }
    public bool Fcrdns { get; }
    public string? Source => Remote?.Address.ToString();
    public string? Helo { get; set; }
    public string? User { get; set; }
    public string? MailFrom { get; set; }
    // What milters get as macros (MilterMacros): the session knows them, the filters are told.
    /// <summary>The name the listener answers with (macro j).</summary>
    public string? ServerName { get; set; }
    /// <summary>The current message's queue id (macro i), once it has one.</summary>
    public string? QueueId { get; set; }
    public string? TlsVersion { get; set; }
    public string? TlsCipher { get; set; }
    public string? TlsCipherBits { get; set; }
    public string? AuthMechanism { get; set; }
    /// <summary>The ESMTP parameters of the MAIL or RCPT being filtered ("SIZE=12"), for milters.</summary>
    public IReadOnlyList<string> EsmtpParameters { get; set; } = [];

    /// <summary>Set once a filter died or hung under this session: nothing more can be filtered.</summary>
    public string? Broken { get; private set; }

    /// <summary>True if some filter of the chain takes part in data-line (the message is streamed through it).</summary>
    public bool FiltersData => _chain.Any(c => TakesPart(c, FilterPhase.DataLine));

    static bool TakesPart((FilterHost.Entry Entry, FilterProcessInstance? Instance) c, FilterPhase phase) => c.Entry switch
    {
        FilterHost.Entry.Proc => c.Instance!.Phases.Contains(phase),
        FilterHost.Entry.Builtin b => b.Filter.Phase == phase,
        FilterHost.Entry.Dkim => phase == FilterPhase.DataLine,
        FilterHost.Entry.Milter => phase is FilterPhase.Connect or FilterPhase.Helo or FilterPhase.Ehlo or FilterPhase.MailFrom
            or FilterPhase.RcptTo or FilterPhase.Data or FilterPhase.DataLine or FilterPhase.Commit,
        _ => false,
    };

    static string Timestamp()
    {
        // Wall-clock time by format: the filter protocol's timestamp is the Unix time of the event.
        long us = (TimeProvider.System.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / 10;
        return string.Create(CultureInfo.InvariantCulture, $"{us / 1_000_000}.{us % 1_000_000:D6}");
    }

    /// <summary>
    /// A report event (<c>report|0.7|TIME|smtp-in|EVENT|SESSION[|PARAMS]</c>) to every process of
    /// the chain that registered it. <paramref name="parameters"/> are already joined with '|'.
    /// </summary>
    public void Report(string ev, string? parameters = null)
    {
        string? line = null;
        foreach (var instance in _instances)
        {
            if (!instance.Reports.Contains(ev) && !instance.Reports.Contains("*")) continue;
            line ??= $"report|{FilterProcessInstance.ProtocolVersion}|{Timestamp()}|smtp-in|{ev}|{Id:x16}{(parameters is null ? "" : "|" + parameters)}";
            instance.Send(line);
        }
    }

    /// <summary>
    /// Asks the chain about a phase: each filter in turn until one decides something other than
    /// proceed (lka_filter.c's filter_protocol_internal). <paramref name="param"/> is what the
    /// phase carries: the HELO name, the address without brackets, or nothing.
    /// </summary>
    public async Task<FilterVerdict> QueryAsync(FilterPhase phase, string param, CancellationToken ct)
    {
        if (Broken is { } broken) return new FilterVerdict.Failed(broken);
        // filter_protocol: what the command says is known from its own phase on.
        if (phase is FilterPhase.Helo or FilterPhase.Ehlo) Helo = param;
        else if (phase == FilterPhase.MailFrom) MailFrom = param;
        foreach (var c in _chain)
        {
            if (!TakesPart(c, phase)) continue;
            FilterVerdict verdict;
            switch (c.Entry)
            {
                case FilterHost.Entry.Builtin b:
                    bool matches;
                    try { matches = await b.Filter.MatchesAsync(this, param, ct); }
                    catch (TableTempFailException ex)
                    {
                        _host.Log.Warn($"filter {b.Name}: {ex.Message}");
                        return new FilterVerdict.Failed($"filter {b.Name}: {ex.Message}");
                    }
                    if (!matches) continue;
                    var spec = b.Filter.Spec;
                    _host.Log.Debug($"{Id:x16} filter {b.Name} phase={phase.Name()} decision={spec.Decision}");
                    _host.Stats?.FilterVerdict(b.Name, DecisionLabel(spec.Decision));
                    switch (spec.Decision)
                    {
                        case Config.FilterDecision.Bypass: return FilterVerdict.Proceeding;
                        case Config.FilterDecision.Report: Report("filter-report", $"builtin|{b.Name}|{spec.Parameter}"); continue;
                    }
                    return spec.Decision switch
                    {
                        Config.FilterDecision.Junk => new FilterVerdict.Junk(),
                        Config.FilterDecision.Reject => new FilterVerdict.Reject(spec.Parameter!),
                        Config.FilterDecision.Disconnect => new FilterVerdict.Disconnect(spec.Parameter!),
                        _ => new FilterVerdict.Rewrite(spec.Parameter!),
                    };
                case FilterHost.Entry.Proc p:
                    verdict = await AskAsync(p, c.Instance!, phase, param, ct);
                    _host.Stats?.FilterVerdict(p.Name, VerdictLabel(verdict));
                    if (verdict is FilterVerdict.Proceed) continue;
                    return verdict;
                case FilterHost.Entry.Milter m:
                    verdict = await _milters[m.Token].StageAsync(phase, param, EsmtpParameters, ct);
                    _host.Stats?.FilterVerdict(m.Name, VerdictLabel(verdict));
                    if (verdict is FilterVerdict.Failed f) return Fail(f.Reason);
                    if (verdict is FilterVerdict.Proceed) continue;
                    return verdict;
            }
        }
        return FilterVerdict.Proceeding;
    }

    static string DecisionLabel(Config.FilterDecision d) => d switch
    {
        Config.FilterDecision.Bypass => "bypass",
        Config.FilterDecision.Report => "report",
        Config.FilterDecision.Junk => "junk",
        Config.FilterDecision.Reject => "reject",
        Config.FilterDecision.Disconnect => "disconnect",
        _ => "rewrite",
    };

    static string VerdictLabel(FilterVerdict v) => v switch
    {
        FilterVerdict.Proceed => "proceed",
        FilterVerdict.Junk => "junk",
        FilterVerdict.Rewrite => "rewrite",
        FilterVerdict.Reject => "reject",
        FilterVerdict.Disconnect => "disconnect",
        FilterVerdict.Discard => "discard",
        _ => "failed",
    };

    async Task<FilterVerdict> AskAsync(FilterHost.Entry.Proc p, FilterProcessInstance instance, FilterPhase phase, string param, CancellationToken ct)
    {
        string prefix = $"filter|{FilterProcessInstance.ProtocolVersion}|{Timestamp()}|smtp-in|{phase.Name()}|{Id:x16}|{p.Token:x16}";
        var answers = instance.Subscribe(Id, p.Token);
        try
        {
            instance.Send(phase == FilterPhase.Connect ? $"{prefix}|{Rdns ?? ""}|{param}" : $"{prefix}|{param}");
            using var timeout = Deadline.After(_host.Time, _host.Timeout, ct);
            while (true)
            {
                byte[] answer;
                try { answer = await answers.ReadAsync(timeout.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    instance.Kill($"no answer to {phase.Name()} within {_host.Timeout.TotalSeconds:0} s");
                    return Fail($"filter {p.Name}: no answer to {phase.Name()} within {_host.Timeout.TotalSeconds:0} s");
                }
                catch (FilterException ex) { return Fail(ex.Message); }
                catch (ChannelClosedException ex) { return Fail(ex.InnerException?.Message ?? $"filter {p.Name} is gone"); }

                string text = Encoding.UTF8.GetString(answer, 1, answer.Length - 1);
                if (answer[0] != 'r')
                {
                    instance.Kill($"filter-dataline out of the data-line phase: {text}");
                    return Fail($"filter {p.Name}: protocol error");
                }
                int bar = text.IndexOf('|');
                string decision = bar < 0 ? text : text[..bar];
                string? value = bar < 0 ? null : text[(bar + 1)..];
                switch (decision)
                {
                    case "proceed": return FilterVerdict.Proceeding;
                    case "junk" when phase != FilterPhase.Commit: return new FilterVerdict.Junk();
                    case "report" when value is not null:
                        // Ours and 0.7's: a report, then the next filter (as a built-in report does).
                        Report("filter-report", $"proc|{p.Name}|{value}");
                        return FilterVerdict.Proceeding;
                    case "rewrite" when value is not null: return new FilterVerdict.Rewrite(value);
                    case "reject" when value is not null: return new FilterVerdict.Reject(value);
                    case "disconnect" when value is not null: return new FilterVerdict.Disconnect(value);
                }
                instance.Kill($"invalid filter-result: {text}");
                return Fail($"filter {p.Name}: invalid filter-result");
            }
        }
        finally { instance.Unsubscribe(Id, p.Token, answers); }
    }

    /// <summary>The envelope changes the milters asked for at the end of the current message, in chain order.</summary>
    public MilterEnvelopeChanges MilterChanges()
    {
        var all = new MilterEnvelopeChanges();
        foreach (var (entry, _) in _chain)
            if (entry is FilterHost.Entry.Milter m) all.Merge(_milters[m.Token].Changes);
        return all;
    }

    /// <summary>The transaction ended without its message being committed: milters in the middle of it get SMFIC_ABORT.</summary>
    public async Task AbortMessageAsync()
    {
        foreach (var milter in _milters.Values) await milter.AbortAsync();
    }

    /// <summary>The SMTP session is over: milters get SMFIC_QUIT and their connections close.</summary>
    public async Task EndAsync()
    {
        foreach (var milter in _milters.Values) await milter.DisposeAsync();
    }

    FilterVerdict Fail(string reason)
    {
        Broken ??= reason;
        return new FilterVerdict.Failed(reason);
    }

    /// <summary>
    /// Starts streaming a message through the data-line filters, in chain order: lines written to
    /// <see cref="DataPipeline.Input"/> (dot-stuffed, without CRLF, "." last) come out of
    /// <see cref="DataPipeline.Output"/> as the last filter gave them back. Null if no filter takes part.
    /// </summary>
    public DataPipeline? OpenData(CancellationToken ct)
    {
        if (Broken is not null || !FiltersData) return null;
        var input = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        ChannelReader<byte[]> current = input.Reader;
        foreach (var c in _chain.Where(c => TakesPart(c, FilterPhase.DataLine)))
        {
            var next = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
            var from = current;
            switch (c.Entry)
            {
                case FilterHost.Entry.Dkim d: _ = d.Filter.RunAsync(from, next.Writer); break;
                case FilterHost.Entry.Proc p: _ = StreamThroughAsync(p, c.Instance!, from, next.Writer, ct); break;
                case FilterHost.Entry.Milter m:
                    var milter = _milters[m.Token];
                    milter.BeginMessage();
                    _ = milter.StreamThroughAsync(from, next.Writer, ct);
                    break;
            }
            current = next.Reader;
        }
        return new DataPipeline(input.Writer, current);
    }

    /// <summary>
    /// One process stage: every line goes out as a data-line request; the filter-dataline answers
    /// come back until ".". Once the filter has the whole message it has the filter timeout to
    /// give it back; if it dies or runs out of time, the output fails (nothing is stored).
    /// </summary>
    async Task StreamThroughAsync(FilterHost.Entry.Proc p, FilterProcessInstance instance, ChannelReader<byte[]> input, ChannelWriter<byte[]> output, CancellationToken ct)
    {
        byte[] prefix = Encoding.UTF8.GetBytes($"filter|{FilterProcessInstance.ProtocolVersion}|{Timestamp()}|smtp-in|data-line|{Id:x16}|{p.Token:x16}|");
        var answers = instance.Subscribe(Id, p.Token);
        using var deadline = new Deadline(_host.Time, ct);
        var forward = Task.Run(async () =>
        {
            try
            {
                await foreach (var line in input.ReadAllAsync(ct))
                {
                    instance.Send([.. prefix, .. line]);
                    if (line is [(byte)'.']) break;
                }
            }
            catch (ChannelClosedException) { }
            catch (OperationCanceledException) { }
            finally { deadline.CancelAfter(_host.Timeout); }
        }, CancellationToken.None);
        try
        {
            while (true)
            {
                byte[] answer = await answers.ReadAsync(deadline.Token);
                if (answer[0] != 'd')
                {
                    instance.Kill("filter-result in the data-line phase");
                    throw new FilterException($"filter {p.Name}: protocol error");
                }
                byte[] line = answer[1..];
                output.TryWrite(line);
                if (line is [(byte)'.']) break;
            }
            output.TryComplete();
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            string reason = $"did not give the message back within {_host.Timeout.TotalSeconds:0} s";
            instance.Kill(reason);
            Fail($"filter {p.Name}: {reason}");
            output.TryComplete(new FilterException($"filter {p.Name}: {reason}"));
        }
        catch (Exception ex) when (ex is FilterException or ChannelClosedException)
        {
            string reason = ex is ChannelClosedException ? ex.InnerException?.Message ?? $"filter {p.Name} is gone" : ex.Message;
            Fail(reason);
            output.TryComplete(new FilterException(reason));
        }
        catch (OperationCanceledException) { output.TryComplete(); }
        finally
        {
            instance.Unsubscribe(Id, p.Token, answers);
            await forward;
        }
    }
}

/// <summary>A message on its way through the data-line filters.</summary>
public sealed record DataPipeline(ChannelWriter<byte[]> Input, ChannelReader<byte[]> Output);
