using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Smtpd.Config;
using Smtpd.Lookup;

namespace Smtpd.Smtp;

/// <summary>
/// One server-side SMTP session (OpenSMTPD's smtp_session.c). Reads commands from a pipe, runs
/// one handler per verb, and writes replies; replies to pipelined commands are sent together,
/// in order, once no more input is waiting (RFC 2920). Nothing else writes to the client.
/// </summary>
public sealed partial class SmtpSession
{
    readonly SmtpContext _ctx;
    readonly ListenerConfig _listener;
    readonly ListenerSetup _setup;
    readonly Stream _network;
    PipeReader _input;
    PipeWriter _output;
    readonly IPEndPoint? _remote;
    readonly string _smtpName;
    readonly CancellationToken _shutdown;

    string? _helo;
    bool _esmtp;
    Transaction? _tx;
    int _errors;
    int _mailCount;
    bool _quit;
    string _closeReason = "quit";

    public SmtpSession(SmtpContext ctx, ListenerSetup setup, Stream stream, IPEndPoint? remote, CancellationToken shutdown)
    {
        _ctx = ctx;
        _setup = setup;
        _listener = setup.Config;
        _network = stream;
        (_input, _output) = Pipes(stream);
        _remote = remote;
        _smtpName = _listener.Hostname ?? ctx.Ruleset.Hostname;
        _shutdown = shutdown;
        Id = SecureRandom.NextUInt64();
    }

    public ulong Id { get; }

    /// <summary>The address and port the listening socket is bound to (null for the local enqueuer).</summary>
    public IPEndPoint? ListenEndPoint { get; init; }

    /// <summary>A local submitter who is not trusted sends as this address whatever MAIL FROM says.</summary>
    public string? BoundSender { get; init; }

    string ClientAddress => _remote?.Address.ToString() ?? "local";
    bool IsLocalClient => _remote is null || _ctx.LocalAddresses.Contains(_remote.Address);
    SessionInfo Info => new(_remote?.Address, IsLocalClient, _listener.Tag, _authUser)
    {
        Helo = _helo ?? "",
        Sender = _tx?.Sender.ToString() ?? "",
        Tls = _tls is not null,
        Rdns = _clientName.Name,
    };

    /// <summary>Pipes over the connection; they leave it open so that STARTTLS can wrap it.</summary>
    static (PipeReader, PipeWriter) Pipes(Stream stream) => (
        // Zero-byte reads: an idle client holds no buffer until it sends something, so that ten
        // thousand idle connections cost sockets, not 160 MB of buffers.
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true, useZeroByteReads: true)),
        PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

    public async Task RunAsync()
    {
        await LookUpClientNameAsync();
        _ctx.Log.Info($"{Id:x16} smtp connected address={ClientAddress} host={ClientHost}");
        string reason = "quit";
        try
        {
            if (!await BeginFiltersAsync())
            {
                _ctx.Log.Info($"{Id:x16} smtp disconnected reason={_closeReason}");
                return;
            }
            if (_setup.Security.Tls == Tls.TlsMode.Smtps && !await HandshakeAsync())
            {
                _ctx.Log.Info($"{Id:x16} smtp disconnected reason=tls-handshake-failed");
                return;
            }
            _filters?.Report("link-greeting", _smtpName);
            Send(Replies.Banner(_smtpName));
            await FlushAsync();
            reason = await CommandLoopAsync();
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            reason = "shutdown";
            await TrySendAsync(Replies.ShuttingDown);
        }
        catch (IOException) { reason = "io-error"; }
        catch (ConnectionClosedException) { reason = "disconnect"; }
        finally
        {
            await AbortTransactionAsync();
            await _input.CompleteAsync();
            await _output.CompleteAsync();
            if (_tls is not null) await _tls.DisposeAsync();
            _filters?.Report("link-disconnect");
            if (_filters is not null) await _filters.EndAsync();
        }
        _ctx.Log.Info($"{Id:x16} smtp disconnected reason={reason}");
    }

    async Task<string> CommandLoopAsync()
    {
        while (!_quit)
        {
            var (line, status) = await ReadCommandAsync();
            switch (status)
            {
                case LineStatus.Closed: return "disconnect";
                case LineStatus.Timeout:
                    _filters?.Report("timeout");
                    await TrySendAsync(Replies.Timeout);
                    _ctx.Log.Info($"{Id:x16} smtp disconnected reason=timeout");
                    return "timeout";
                case LineStatus.TooLong:
                    await TrySendAsync(Replies.CommandLineTooLong);
                    return "line-too-long";
                case LineStatus.NulByte or LineStatus.NotUtf8:
                    var refusal = status == LineStatus.NulByte ? Replies.NulInCommand : Replies.CommandNotUtf8;
                    Send(refusal);
                    _ctx.Log.Info($"{Id:x16} smtp failed-command command=(unreadable) result=\"{refusal.FirstLine}\"");
                    if (++_errors >= _ctx.MaxErrors) { Send(Replies.TooManyErrors); await FlushAsync(); return "too-many-errors"; }
                    if (!HasBufferedInput()) await FlushAsync();
                    continue;
            }

            _ctx.Log.Trace("smtp", () => $"{Id:x16} <<< {Printable(line!)}");
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            var reply = await HandleCommandAsync(line!);
            if (_ctx.Bus.Profiling) _ctx.Bus.Profile("smtp", ProfiledVerb(line!), started);
            if (reply is not null) _ctx.Log.Trace("smtp", () => $"{Id:x16} >>> {reply.FirstLine}");
            if (reply is null) continue; // DATA answered for itself (and may have ended the session)
            _ctx.Bus.Stats.Command(ProfiledVerb(line!), reply.Code);
            Send(reply);
            if (reply.IsPermanent || reply.IsTransient)
            {
                _ctx.Log.Info($"{Id:x16} smtp failed-command command=\"{Printable(line!)}\" result=\"{reply.FirstLine}\"");
                if (++_errors >= _ctx.MaxErrors && !_quit)
                {
                    Send(Replies.TooManyErrors);
                    await FlushAsync();
                    return "too-many-errors";
                }
            }
            if (_quit || !HasBufferedInput()) await FlushAsync();
        }
        return _closeReason;
    }

    enum LineStatus { Ok, Closed, Timeout, TooLong, NulByte, NotUtf8 }

    /// <summary>Command lines must be text: a NUL byte or bytes that are not UTF-8 are refused, never decoded into something else.</summary>
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    async Task<(string? Line, LineStatus Status)> ReadCommandAsync()
    {
        using var timeout = Deadline.After(_ctx.Time, _ctx.CommandTimeout, _shutdown);
        while (true)
        {
            ReadResult result;
            try { result = await _input.ReadAsync(timeout.Token); }
            catch (OperationCanceledException) when (!_shutdown.IsCancellationRequested) { return (null, LineStatus.Timeout); }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> raw, (byte)'\n'))
            {
                // Decode before AdvanceTo: the buffer's memory is not ours after it.
                if (raw.Length > _ctx.MaxCommandLine) { _input.AdvanceTo(reader.Position); return (null, LineStatus.TooLong); }
                var status = raw.PositionOf((byte)0) is not null ? LineStatus.NulByte : LineStatus.Ok;
                string? text = null;
                if (status == LineStatus.Ok)
                {
                    try { text = StrictUtf8.GetString(raw).TrimEnd('\r'); }
                    catch (DecoderFallbackException) { status = LineStatus.NotUtf8; }
                }
                _input.AdvanceTo(reader.Position);
                return (text, status);
            }
            if (buffer.Length > _ctx.MaxCommandLine) return (null, LineStatus.TooLong);
            if (result.IsCompleted) return (null, LineStatus.Closed);
            _input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True if the client has already sent more (pipelining): replies can wait.</summary>
    bool HasBufferedInput()
    {
        if (!_input.TryRead(out var result)) return false;
        bool any = !result.Buffer.IsEmpty;
        _input.AdvanceTo(result.Buffer.Start);
        return any;
    }

    void Send(Reply reply)
    {
        if (_filters is not null) ReportReply(reply);
        _output.Write(reply.Bytes.Span);
    }

    async Task FlushAsync()
    {
        var result = await _output.FlushAsync(_shutdown);
        if (result.IsCompleted) throw new ConnectionClosedException();
    }

    async Task TrySendAsync(Reply reply)
    {
        try { Send(reply); await _output.FlushAsync(CancellationToken.None); }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException) { }
    }

    /// <summary>The client's reverse name, or &lt;unknown&gt; (log, Received:, envelope), as OpenSMTPD shows it.</summary>
    string ClientHost => _clientName.Text;

    static string Printable(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) sb.Append(c < 0x20 || c == 0x7f ? '?' : c == '"' ? '\'' : c);
        return sb.ToString();
    }

    sealed class ConnectionClosedException : Exception;

    /// <summary>The metrics' name for a listener: its tag, or the address and port it is bound to
    /// (both from the configuration, so the set of values is bounded).</summary>
    internal static string ListenerLabel(ListenerConfig config, IPEndPoint? bound) =>
        config.IsSocket ? LocalListenerLabel : config.Tag ?? bound?.ToString() ?? config.Interface;

    internal const string LocalListenerLabel = "local";

    static readonly string[] ProfiledVerbs = ["HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "HELP", "VRFY", "EXPN", "STARTTLS", "AUTH"];

    /// <summary>The verb a profiling figure is kept under; any other word is "unknown", so clients cannot make keys.</summary>
    static string ProfiledVerb(string line)
    {
        int space = line.IndexOf(' ');
        var word = space < 0 ? line.AsSpan() : line.AsSpan(0, space);
        foreach (var verb in ProfiledVerbs)
            if (word.Equals(verb, StringComparison.OrdinalIgnoreCase)) return verb;
        return "unknown";
    }
}
