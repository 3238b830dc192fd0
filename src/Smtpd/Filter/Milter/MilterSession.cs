using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Smtpd.Config;

namespace Smtpd.Filter.Milter;

/// <summary>
/// One SMTP session's conversation with one milter (Postfix's milter8 for one client): the
/// connection opened at connect, option negotiation, then one command per stage with its macros,
/// each answer turned into a <see cref="FilterVerdict"/>. A stage the milter skips
/// (SMFIP_NO*) is not sent; one it does not answer (SMFIP_NR_*) is not waited for. When the milter
/// cannot be reached, hangs or breaks the protocol, the filter's on-failure action decides, and
/// the connection is dropped: the next session connects again.
/// </summary>
public sealed partial class MilterSession : IAsyncDisposable
{
    readonly string _name;
    readonly FilterSpec.Milter _spec;
    readonly MilterAddress _address;
    readonly FilterSession _session;
    readonly SmtpdLog _log;
    readonly TimeProvider _time;
    /// <summary>One command at a time on the connection: stages, the message, abort and quit.</summary>
    readonly SemaphoreSlim _lock = new(1, 1);

    MilterConnection? _connection;
    MilterNegotiation _options = new(0, MilterActions.None, MilterSteps.None, new Dictionary<MacroStage, IReadOnlyList<string>>());
    /// <summary>Nothing more goes to the milter in this session: it accepted the connection, or it failed and the action is accept.</summary>
    bool _done;
    /// <summary>Set when the milter failed and the action is reject: every later stage gets it.</summary>
    FilterVerdict? _failed;
    /// <summary>MAIL went to the milter and neither end of message nor abort has since.</summary>
    bool _inMessage;
    /// <summary>The milter accepted or discarded the current message: nothing more of it goes to the milter.</summary>
    bool _skipMessage;
    bool _discarded;
    string? _rcpt;
    TaskCompletionSource<FilterVerdict>? _endOfMessage;

    internal MilterSession(string name, FilterSpec.Milter spec, FilterSession session, SmtpdLog log, TimeProvider time)
    {
        _name = name;
        _spec = spec;
        MilterAddress.TryParse(spec.Address, out _address);
        _session = session;
        _log = log;
        _time = time;
    }

    /// <summary>The envelope changes the milter asked for at the end of the current message.</summary>
    public MilterEnvelopeChanges Changes { get; private set; } = new();

    /// <summary>What the milter negotiated (for tests and logs).</summary>
    public MilterNegotiation Options => _options;

    bool Active => _connection is not null && !_done && _failed is null;

    /// <summary>The milter's decision at a stage of the session.</summary>
    public async Task<FilterVerdict> StageAsync(FilterPhase phase, string param, IReadOnlyList<string> esmtp, CancellationToken ct)
    {
        // The end of message was decided by the data stage (which held the connection meanwhile).
        if (phase == FilterPhase.Commit)
        {
            var verdict = _endOfMessage is { } eom ? await eom.Task.WaitAsync(ct) : FilterVerdict.Proceeding;
            return _discarded && verdict is FilterVerdict.Proceed ? new FilterVerdict.Discard() : verdict;
        }
        await _lock.WaitAsync(ct);
        try
        {
            if (_failed is not null) return _failed;
            if (phase == FilterPhase.Connect) return await ConnectAsync(param, ct);
            if (!Active) return FilterVerdict.Proceeding;
            switch (phase)
            {
                case FilterPhase.Helo or FilterPhase.Ehlo:
                    return await CommandAsync(MacroStage.Helo, MilterSteps.NoHelo, MilterSteps.NoReplyHelo, MilterPacket.Strings(MilterCommand.Helo, param), false, ct);
                case FilterPhase.MailFrom:
                    if (_inMessage) await SendAsync(new MilterPacket(MilterCommand.Abort, Array.Empty<byte>()), ct);
                    _skipMessage = _discarded = false;
                    _endOfMessage = null;
                    Changes = new MilterEnvelopeChanges();
                    _inMessage = true;
                    return await CommandAsync(MacroStage.Mail, MilterSteps.NoMail, MilterSteps.NoReplyMail, MilterPacket.Strings(MilterCommand.Mail, [$"<{param}>", .. esmtp]), true, ct);
                case FilterPhase.RcptTo when !_skipMessage:
                    _rcpt = param;
                    return await CommandAsync(MacroStage.Rcpt, MilterSteps.NoRcpt, MilterSteps.NoReplyRcpt, MilterPacket.Strings(MilterCommand.Rcpt, [$"<{param}>", .. esmtp]), true, ct);
                case FilterPhase.Data when !_skipMessage:
                    return await CommandAsync(MacroStage.Data, MilterSteps.NoData, MilterSteps.NoReplyData, new MilterPacket(MilterCommand.Data, Array.Empty<byte>()), true, ct);
            }
            return FilterVerdict.Proceeding;
        }
        catch (Exception ex) when (IsFailure(ex)) { return await FailAsync(ex.Message); }
        finally { _lock.Release(); }
    }

    static bool IsFailure(Exception ex) => ex is TimeoutException or IOException or SocketException or MilterProtocolException
        or MilterUnavailableException or ObjectDisposedException;

    /// <summary>Opens the connection, negotiates, and sends the client's connect (unless the milter skips it).</summary>
    async Task<FilterVerdict> ConnectAsync(string address, CancellationToken ct)
    {
        _connection = await MilterConnection.OpenAsync(_address, _spec.ConnectTimeout, _time, ct);
        await _connection.SendAsync(MilterNegotiation.Offer(), ct);
        _options = MilterNegotiation.Parse(await _connection.ReceiveAsync(_spec.CommandTimeout, ct));
        _log.Debug($"{_session.Id:x16} milter {_name}: version={_options.Version} actions=0x{(uint)_options.Actions:x} steps=0x{(uint)_options.Steps:x}");
        return await CommandAsync(MacroStage.Connect, MilterSteps.NoConnect, MilterSteps.NoReplyConnect, ConnectPacket(address), false, ct);
    }

    /// <summary>SMFIC_CONNECT: the client's name, then its family, port and address ('U' with nothing after it when it has none).</summary>
    MilterPacket ConnectPacket(string address)
    {
        var name = MilterPacket.Strings(MilterCommand.Connect, _session.Rdns ?? $"[{address}]").Data.ToArray();
        if (_session.Remote is not { } remote) return new MilterPacket(MilterCommand.Connect, (byte[])[.. name, (byte)'U']);
        var port = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(port, (ushort)remote.Port);
        byte family = remote.AddressFamily == AddressFamily.InterNetworkV6 ? (byte)'6' : (byte)'4';
        var addr = MilterPacket.Strings(0, remote.Address.ToString()).Data.ToArray();
        return new MilterPacket(MilterCommand.Connect, (byte[])[.. name, family, .. port, .. addr]);
    }

    /// <summary>The stage's macros, its command, and (unless it is one the milter does not answer) the milter's decision.</summary>
    async Task<FilterVerdict> CommandAsync(MacroStage stage, MilterSteps skip, MilterSteps noReply, MilterPacket command, bool message, CancellationToken ct)
    {
        if (_options.Has(skip)) return FilterVerdict.Proceeding;
        await SendAsync(MilterMacros.Packet(stage, _options, Macro), ct);
        await SendAsync(command, ct);
        if (_options.Has(noReply)) return FilterVerdict.Proceeding;
        return Decide(await ReceiveAsync(_spec.CommandTimeout, ct), message);
    }

    Task SendAsync(MilterPacket packet, CancellationToken ct) => _connection!.SendAsync(packet, ct);

    /// <summary>The next answer that is not SMFIR_PROGRESS (which only restarts the wait).</summary>
    async Task<MilterPacket> ReceiveAsync(TimeSpan timeout, CancellationToken ct)
    {
        while (true)
        {
            var packet = await _connection!.ReceiveAsync(timeout, ct);
            if (packet.Code != MilterReply.Progress) return packet;
        }
    }

    /// <summary>An answer to a stage; <paramref name="message"/>: the stage belongs to a message (accept and discard then end the message, not the session).</summary>
    /// <exception cref="MilterProtocolException">Not an answer to a stage.</exception>
    FilterVerdict Decide(MilterPacket reply, bool message)
    {
        switch (reply.Code)
        {
            case MilterReply.Continue: return FilterVerdict.Proceeding;
            case MilterReply.Accept:
                if (message) _skipMessage = true; else _done = true;
                return FilterVerdict.Proceeding;
            case MilterReply.Discard when message:
                _skipMessage = _discarded = true;
                return FilterVerdict.Proceeding;
            case MilterReply.Discard:
                _done = true;
                return FilterVerdict.Proceeding;
            case MilterReply.Reject: return new FilterVerdict.Reject("550 5.7.1 Command rejected");
            case MilterReply.TempFail: return new FilterVerdict.Reject("451 4.7.1 Service unavailable, try again later");
            case MilterReply.Shutdown or MilterReply.ConnectionFail:
                _done = true;
                return new FilterVerdict.Reject("421 4.7.0 Service unavailable, closing connection");
            case MilterReply.ReplyCode:
                var strings = reply.ReadStrings();
                string text = strings.Count == 1 ? strings[0] : throw new MilterProtocolException("reply code without its text");
                if (!IsReplyText(text))
                    throw new MilterProtocolException($"invalid reply code \"{Printable(text)}\"");
                return new FilterVerdict.Reject(text);
            default:
                throw new MilterProtocolException($"unexpected reply '{Printable(((char)reply.Code).ToString())}'");
        }
    }

    /// <summary>A 4xx or 5xx reply, each line starting with the same code then a space or (all but the last) a hyphen.</summary>
    static bool IsReplyText(string text)
    {
        var lines = text.Split("\r\n");
        for (int i = 0; i < lines.Length; i++)
        {
            string l = lines[i];
            if (l.Length < 3 || l[0] is not ('4' or '5') || !char.IsAsciiDigit(l[1]) || !char.IsAsciiDigit(l[2]) || l[..3] != lines[0][..3]) return false;
            if (l.Length > 3 && l[3] != (i == lines.Length - 1 ? ' ' : '-')) return false;
        }
        return true;
    }

    static string Printable(string s) => new(s.Take(200).Select(c => c < 0x20 || c > 0x7e ? '?' : c).ToArray());

    /// <summary>The milter failed: the connection is dropped and the on-failure action decides.</summary>
    async Task<FilterVerdict> FailAsync(string reason)
    {
        _log.Warn($"{_session.Id:x16} milter {_name} ({_spec.Address}): {reason}; on-failure {_spec.OnFailure.ToString().ToLowerInvariant()}");
        await DropConnectionAsync();
        switch (_spec.OnFailure)
        {
            case MilterFailureAction.Accept:
                _done = true;
                return FilterVerdict.Proceeding;
            case MilterFailureAction.Reject:
                return _failed = new FilterVerdict.Reject("550 5.7.1 Service unavailable");
            default:
                return new FilterVerdict.Failed($"milter {_name}: {reason}");
        }
    }

    async Task DropConnectionAsync()
    {
        if (_connection is { } connection)
        {
            _connection = null;
            _inMessage = false;
            await connection.DisposeAsync();
        }
    }

    /// <summary>The transaction ended without an end of message (RSET, a refusal, the client left): SMFIC_ABORT.</summary>
    public async Task AbortAsync()
    {
        await _lock.WaitAsync();
        try
        {
            if (!_inMessage || !Active) return;
            _inMessage = false;
            await SendAsync(new MilterPacket(MilterCommand.Abort, Array.Empty<byte>()), CancellationToken.None);
        }
        catch (Exception ex) when (IsFailure(ex)) { await DropConnectionAsync(); }
        finally { _lock.Release(); }
    }

    /// <summary>The session ended: SMFIC_ABORT then SMFIC_QUIT (as Postfix ends one), then the connection is closed.</summary>
    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync();
        try
        {
            if (_connection is not null && !_done)
                await SendAsync(new MilterPacket(MilterCommand.Abort, Array.Empty<byte>()), CancellationToken.None);
            if (_connection is not null)
                await SendAsync(new MilterPacket(MilterCommand.Quit, Array.Empty<byte>()), CancellationToken.None);
        }
        catch (Exception ex) when (IsFailure(ex)) { }
        finally
        {
            await DropConnectionAsync();
            _lock.Release();
        }
    }

    /// <summary>What a macro stands for now (<see cref="MilterMacros"/>), null when we do not know it.</summary>
    string? Macro(string name)
    {
        var s = _session;
        string? client = s.Remote?.Address.ToString();
        return name switch
        {
            "j" => s.ServerName,
            "{daemon_name}" => s.ServerName, // Postfix's milter_macro_daemon_name: the host name
            "{daemon_addr}" or "{if_addr}" => s.Local?.Address.ToString(),
            "{if_name}" => s.ServerName,
            "v" => "smtpd for .NET",
            "_" => $"{s.Rdns ?? "unknown"} [{client ?? "127.0.0.1"}]",
            "{client_addr}" => client,
            "{client_port}" => s.Remote?.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "{client_name}" => s.Rdns ?? (client is null ? "localhost" : "unknown"),
            "{tls_version}" => s.TlsVersion,
            "{cipher}" => s.TlsCipher,
            "{cipher_bits}" => s.TlsCipherBits,
            "i" => s.QueueId,
            "{auth_type}" => s.User is null ? null : s.AuthMechanism,
            "{auth_authen}" => s.User,
            "{mail_addr}" => s.MailFrom,
            "{mail_host}" => HostOf(s.MailFrom),
            "{mail_mailer}" => s.MailFrom is null ? null : "smtp",
            "{rcpt_addr}" => _rcpt,
            "{rcpt_host}" => HostOf(_rcpt),
            "{rcpt_mailer}" => _rcpt is null ? null : "smtp",
            _ => null,
        };
    }

    static string? HostOf(string? address) => address is null ? null : address.LastIndexOf('@') is int at and >= 0 ? address[(at + 1)..] : null;
}
