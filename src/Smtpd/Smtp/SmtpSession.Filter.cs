using System.Net;
using System.Text;
using Smtpd.Filter;

namespace Smtpd.Smtp;

// The session's side of filtering (smtp_session.c's smtp_filter_* and smtp_report_*): only
// sessions on a listener with "filter NAME" have a FilterSession; every hook here returns at
// once when _filters is null, so unfiltered sessions do no extra work.
public sealed partial class SmtpSession
{
    FilterSession? _filters;
    bool _junkSession;
    bool _junkTx;
    string _lastVerb = "";
    (uint MsgId, long Size)? _committed;

    string? ListenerFilter => _listener.Options.FirstOrDefault(o => o.StartsWith("filter ", StringComparison.Ordinal))?[7..];

    /// <summary>
    /// Connect phase: binds the session to its filters, reports link-connect and asks the chain.
    /// False if the session must end (the reply, if any, has been sent).
    /// </summary>
    async Task<bool> BeginFiltersAsync()
    {
        if (ListenerFilter is not { } name || _ctx.Filters is null) return true;
        var local = (_network as System.Net.Sockets.NetworkStream)?.Socket.LocalEndPoint as IPEndPoint;
        try { _filters = await _ctx.Filters.BeginAsync(name, Id, _remote, local, _clientName, _shutdown); }
        catch (FilterException ex)
        {
            _ctx.Log.Warn($"{Id:x16} smtp filter unavailable: {ex.Message}");
            await TrySendAsync(Replies.FilterUnavailable);
            _closeReason = "filter-failure";
            return false;
        }
        _filters.ServerName = _smtpName;
        string src = _remote is null ? "unix:/var/run/smtpd.sock" : $"{Address(_remote.Address)}:{_remote.Port}";
        string dest = _remote is null || local is null ? "unix:/var/run/smtpd.sock" : $"{Address(local.Address)}:{local.Port}";
        _filters.Report("link-connect", $"{_filters.Rdns ?? ""}|{(_filters.Fcrdns ? "pass" : "fail")}|{src}|{dest}");
        var verdict = await _filters.QueryAsync(FilterPhase.Connect, _remote is null ? "local" : Address(_remote.Address), _shutdown);
        ReportFilterResponse(FilterPhase.Connect, verdict);
        switch (verdict)
        {
            case FilterVerdict.Junk: _junkSession = true; return true;
            case FilterVerdict.Reject r: await TrySendAsync(Replies.FromFilter(r.Reply)); break;
            case FilterVerdict.Disconnect d: await TrySendAsync(Replies.FromFilter(d.Reply)); break;
            case FilterVerdict.Failed f:
                _ctx.Log.Warn($"{Id:x16} smtp filter failure: {f.Reason}");
                await TrySendAsync(Replies.FilterUnavailable);
                _closeReason = "filter-failure";
                return false;
            default: return true;
        }
        _closeReason = "filter-reject";
        return false;
    }

    static string Address(IPAddress a) => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();

    /// <summary>
    /// A command on a filtered session: reports it, asks the chain about its phase (once the
    /// command is well-formed and allowed now, as OpenSMTPD checks before filtering), applies the
    /// decision, then runs the verb's handler with the possibly rewritten parameter.
    /// </summary>
    async Task<Reply?> FilteredCommandAsync(string verb, string args)
    {
        var filters = _filters!;
        _lastVerb = verb;
        if (filters.Broken is not null)
        {
            // A filter died under this session: nothing more can be checked, so nothing is accepted.
            _quit = true;
            _closeReason = "filter-failure";
            await AbortTransactionAsync();
            return Replies.FilterUnavailable;
        }

        // As smtp_report_tx_mail/rcpt: the address as the client wrote it, before any rewrite.
        if (verb is "MAIL" or "RCPT")
        {
            _lastAddress = PathAddress(args, verb == "MAIL" ? 5 : 3);
            filters.EsmtpParameters = PathParameters(args);
        }
        var (phase, param) = AllowedNow(verb, args) ? FilterPhaseOf(verb, args) : (null, "");
        if (phase is { } p)
        {
            var verdict = await filters.QueryAsync(p, param, _shutdown);
            ReportFilterResponse(p, verdict);
            switch (verdict)
            {
                case FilterVerdict.Failed f:
                    // No decision means no mail: 451 inside a transaction, else 421 and goodbye.
                    _ctx.Log.Warn($"{Id:x16} smtp filter failure: {f.Reason}");
                    bool inTx = _tx is not null;
                    await AbortTransactionAsync();
                    _tx = null;
                    if (inTx) return Replies.FilterFailure;
                    _quit = true;
                    _closeReason = "filter-failure";
                    return Replies.FilterUnavailable;
                case FilterVerdict.Reject or FilterVerdict.Disconnect:
                    return RefusalOf(verdict);
                case FilterVerdict.Junk:
                    if (_tx is not null) _junkTx = true; else _junkSession = true;
                    break;
                case FilterVerdict.Rewrite w:
                    args = Rewritten(verb, args, w.Value);
                    break;
            }
        }

        var before = _tx;
        var result = await DispatchAsync(verb, args);
        if (before?.MessageId is not null && !ReferenceEquals(before, _tx))
            await RollbackAsync(before); // RSET, HELO or STARTTLS ended a transaction we had opened in the queue

        switch (verb)
        {
            case "HELO" or "EHLO" when result is { IsPositive: true }:
                filters.Helo = _helo;
                filters.Report("link-identify", $"{verb}|{_helo}");
                break;
            case "MAIL" when result is { IsPositive: true } && _tx is not null:
                // As OpenSMTPD, the message exists from MAIL on: reports carry its id.
                try { _tx.MessageId = await _ctx.Queue.CreateAsync(_shutdown); }
                catch (IOException ex)
                {
                    _ctx.Log.Warn($"{Id:x16} smtp queue: cannot create message: {ex.Message}");
                    _tx = null;
                    return StorageReply(ex);
                }
                _junkTx = false;
                filters.MailFrom = _tx.Sender.ToString();
                filters.QueueId = $"{_tx.MessageId:x8}";
                break;
        }
        return result;
    }

    /// <summary>The command is well-formed and allowed now: only then are filters asked (an error needs no filter).</summary>
    bool AllowedNow(string verb, string args) => verb switch
    {
        "HELO" or "EHLO" => args.Split(' ', 2)[0] is { Length: > 0 } d && MailAddress.IsValidDomain(d),
        "MAIL" => _helo is not null && _tx is null && args.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase) && MailPath.TryParse(args[5..], isSender: true, out _, _smtpName),
        "RCPT" => _tx is not null && args.StartsWith("TO:", StringComparison.OrdinalIgnoreCase) && MailPath.TryParse(args[3..], isSender: false, out _, _smtpName),
        "DATA" => _tx is { Recipients.Count: > 0 } && args.Length == 0,
        "STARTTLS" or "AUTH" => _helo is not null && _tx is null,
        "RSET" or "QUIT" => args.Length == 0,
        _ => true,
    };

    static (FilterPhase?, string) FilterPhaseOf(string verb, string args) => verb switch
    {
        "HELO" => (FilterPhase.Helo, args.Split(' ', 2)[0]),
        "EHLO" => (FilterPhase.Ehlo, args.Split(' ', 2)[0]),
        "STARTTLS" => (FilterPhase.StartTls, ""),
        "AUTH" => (FilterPhase.Auth, args.Split(' ', 2)[0]),
        "MAIL" => (FilterPhase.MailFrom, PathAddress(args, 5)),
        "RCPT" => (FilterPhase.RcptTo, PathAddress(args, 3)),
        "DATA" => (FilterPhase.Data, ""),
        "RSET" => (FilterPhase.Rset, ""),
        "QUIT" => (FilterPhase.Quit, ""),
        "NOOP" => (FilterPhase.Noop, ""),
        "HELP" => (FilterPhase.Help, ""),
        _ => (null, ""),
    };

    /// <summary>The address of "FROM:&lt;a@b&gt; SIZE=1" without brackets and parameters.</summary>
    static string PathAddress(string args, int keyword)
    {
        if (args.Length < keyword) return "";
        string rest = args[keyword..].TrimStart();
        int open = rest.IndexOf('<'), close = rest.IndexOf('>');
        return open == 0 && close > 0 ? rest[1..close] : rest.Split(' ', 2)[0];
    }

    /// <summary>The ESMTP parameters after the path of "FROM:&lt;a@b&gt; SIZE=1 BODY=8BITMIME".</summary>
    static IReadOnlyList<string> PathParameters(string args)
    {
        int close = args.IndexOf('>');
        return close < 0 ? [] : args[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>The command's arguments after a rewrite: the address is replaced, its parameters kept.</summary>
    static string Rewritten(string verb, string args, string value)
    {
        switch (verb)
        {
            case "MAIL" or "RCPT":
                string keyword = verb == "MAIL" ? "FROM:" : "TO:";
                string rest = args.Length >= keyword.Length ? args[keyword.Length..].TrimStart() : "";
                int close = rest.IndexOf('>');
                string parameters = close >= 0 ? rest[(close + 1)..] : "";
                return keyword + (value.StartsWith('<') ? value : $"<{value}>{parameters}");
            default:
                return value;
        }
    }

    void ReportFilterResponse(FilterPhase phase, FilterVerdict verdict)
    {
        string? response = verdict switch
        {
            FilterVerdict.Proceed => "proceed",
            FilterVerdict.Junk => "junk",
            FilterVerdict.Rewrite w => $"rewrite|{w.Value}",
            FilterVerdict.Reject r => $"reject|{r.Reply}",
            FilterVerdict.Disconnect d => $"disconnect|{d.Reply}",
            _ => null,
        };
        if (response is not null) _filters!.Report("filter-response", $"{phase.ReportName()}|{response}");
    }

    /// <summary>smtp_reply's reports: each line sent, then the transaction events the reply settles.</summary>
    void ReportReply(Reply reply)
    {
        var filters = _filters!;
        foreach (var line in Encoding.UTF8.GetString(reply.Bytes.Span).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
            filters.Report("protocol-server", line);
        string result = reply.IsPositive ? "ok" : reply.IsTransient ? "tempfail" : "permfail";
        if (_tx?.MessageId is uint msgid)
        {
            switch (_lastVerb)
            {
                case "MAIL":
                    if (reply.IsPositive) filters.Report("tx-begin", $"{msgid:x8}");
                    filters.Report("tx-mail", $"{msgid:x8}|{result}|{_lastAddress}");
                    break;
                case "RCPT":
                    filters.Report("tx-rcpt", $"{msgid:x8}|{result}|{_lastAddress}");
                    break;
                case "DATA" when reply.Code != 250 && _tx.Recipients.Count > 0:
                    filters.Report("tx-data", $"{msgid:x8}|{result}");
                    break;
            }
        }
        if (_lastVerb == "DATA" && reply.Code == 250 && _committed is var (id, size))
        {
            _committed = null;
            filters.Report("tx-commit", $"{id:x8}|{size}");
            filters.Report("tx-reset", $"{id:x8}");
        }
    }

    string _lastAddress = "";

    /// <summary>Drops a transaction's uncommitted message, as AbortTransactionAsync does for the current one.</summary>
    async Task RollbackAsync(Transaction tx)
    {
        if (tx.MessageId is not uint msgid) return;
        tx.MessageId = null;
        ReportRollback(msgid);
        if (_filters is not null) await _filters.AbortMessageAsync();
        try { await _ctx.Queue.RollbackAsync(msgid); }
        catch (IOException ex) { _ctx.Log.Warn($"{Id:x16} smtp queue: cannot remove aborted message {msgid:x8}: {ex.Message}"); }
    }

    void ReportRollback(uint msgid)
    {
        if (_filters is null) return;
        _filters.Report("tx-rollback", $"{msgid:x8}");
        _filters.Report("tx-reset", $"{msgid:x8}");
    }

    /// <summary>The reply for a filter's reject or disconnect; a disconnect, or a 421, ends the session.</summary>
    Reply RefusalOf(FilterVerdict verdict)
    {
        var (text, disconnect) = verdict switch
        {
            FilterVerdict.Reject r => (r.Reply, false),
            FilterVerdict.Disconnect d => (d.Reply, true),
            _ => throw new ArgumentException("not a refusal", nameof(verdict)),
        };
        var reply = Replies.FromFilter(text);
        if (disconnect || reply.Code == 421) { _quit = true; _closeReason = "filter-disconnect"; }
        return reply;
    }
}
