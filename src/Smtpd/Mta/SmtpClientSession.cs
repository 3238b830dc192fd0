using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Mta;

/// <summary>
/// Our SMTP client (OpenSMTPD's mta_session.c): connects to one next hop, reads the banner,
/// EHLO (HELO if refused), STARTTLS as the policy says, AUTH for smarthosts, then carries any
/// number of messages, one transaction each, until it is idle too long or the peer goes away.
/// MAIL and every RCPT are pipelined when the server offers PIPELINING.
/// </summary>
public sealed class SmtpClientSession : IAsyncDisposable
{
    readonly Socket _socket;
    readonly ClientOptions _options;
    readonly SmtpdLog _log;
    Stream _stream;
    /// <summary>Replies are read from the stream in use: the plain one, then the TLS one (nothing sent before STARTTLS's reply is kept).</summary>
    PipeReader _input;
    SmtpReplyReader _replies;
    HashSet<string> _extensions = [];

    SmtpClientSession(Socket socket, ClientOptions options, SmtpdLog log, string hostName, string? ptrName)
    {
        PtrName = ptrName;
        _socket = socket;
        _stream = Stream.Null; // until connected
        (_input, _replies) = ReadFrom(_stream);
        _options = options;
        IdleSince = options.Time.GetUtcNow();
        _log = log;
        HostName = hostName;
        Id = SecureRandom.NextUInt64();
    }

    public ulong Id { get; }
    /// <summary>The name the next hop must prove it is (URL host or MX name): TLS checks it.</summary>
    public string HostName { get; }
    /// <summary>The next hop's reverse name (/etc/hosts, then PTR), as OpenSMTPD's mta logs it; null when it has none.</summary>
    public string? PtrName { get; }
    public IPEndPoint Remote => (IPEndPoint)_socket.RemoteEndPoint!;
    public string Source => (_socket.LocalEndPoint as IPEndPoint)?.Address.ToString() ?? "";
    /// <summary>
    /// "mx.example.org [192.0.2.1]": the name the route chose (and TLS checked) with the address.
    /// OpenSMTPD writes "192.0.2.1 (PTR name)" here; docs/DEVIATIONS.md says why we keep ours.
    /// </summary>
    public string Relay => $"{HostName} [{Remote.Address}]";
    public bool Secure => _stream is SslStream;
    public int Messages { get; private set; }
    /// <summary>False once anything went wrong: such a session is never reused.</summary>
    public bool Usable { get; private set; } = true;
    public DateTimeOffset IdleSince { get; private set; }
    /// <summary>The server takes DSN parameters (RFC 3461): it will report to the sender itself.</summary>
    public bool SupportsDsn => _extensions.Contains("DSN");

    /// <summary>DSN parameters to pass on: RET and ENVID of the message, NOTIFY and ORCPT per recipient.</summary>
    public sealed record Dsn(string? Ret, string? Envid, IReadOnlyList<(Queue.DsnNotify Notify, string? Orcpt)> Recipients)
    {
        public string RecipientParameters(int i)
        {
            var (notify, orcpt) = Recipients[i];
            string text = notify == Queue.DsnNotify.None ? "" : " NOTIFY=" + (notify.HasFlag(Queue.DsnNotify.Never) ? "NEVER"
                : string.Join(',', new[] { (Queue.DsnNotify.Success, "SUCCESS"), (Queue.DsnNotify.Failure, "FAILURE"), (Queue.DsnNotify.Delay, "DELAY") }
                    .Where(f => notify.HasFlag(f.Item1)).Select(f => f.Item2)));
            return orcpt is null ? text : $"{text} ORCPT={orcpt}";
        }
    }

    /// <summary>The last transaction's RCPTs were all answered 4xx: what greylisting looks like.</summary>
    public bool RecipientsAllDeferred { get; private set; }

    /// <summary>
    /// RCPTs refused in a row on one session before it gives up and the batch waits: OpenSMTPD's
    /// max_failures_per_session (limit.c, default 25), which counts 4xx and 5xx alike and is reset by a 2xx.
    /// </summary>
    public const int MaxRcptFailuresInARow = 25;
    int _rcptFailuresInARow;
    // What OpenSMTPD's mta says when the peer's SIZE is below the message: no point sending it.
    static readonly SmtpReply TooLargeForPeer = new(552, ["552 5.3.4 Message too large for peer"]);

    /// <summary>The peer's SIZE limit from its EHLO reply (RFC 1870); 0: none given.</summary>
    long _peerSizeLimit;

    static readonly SmtpReply TooManyFailures = new(451, ["451 4.7.0 Too many consecutive errors, closing connection"]);

    /// <summary>The last transaction stopped after <see cref="MaxRcptFailuresInARow"/> refused RCPTs in a row.</summary>
    public bool TooManyRecipientFailures { get; private set; }

    /// <summary>Sound but not to be reused (too many refusals): closed with QUIT once released.</summary>
    public bool Retired { get; private set; }

    /// <summary>
    /// Connects and greets; on failure the exception says why. When opportunistic STARTTLS fails
    /// in the handshake, connects once more in plain text, as OpenSMTPD (MTA_DOWNGRADE_PLAIN).
    /// </summary>
    /// <summary>The TLS version in use ("TLSv1.2", "TLSv1.3"); null on a plain connection.</summary>
    public string? TlsVersion { get; private set; }

    public static async Task<SmtpClientSession> OpenAsync(IPEndPoint endpoint, string hostName, string? ptrName, ClientOptions options, SmtpdLog log, CancellationToken ct)
    {
        var session = await ConnectAsync(endpoint, hostName, ptrName, options, log, plain: false, ct);
        if (!session._opportunisticTlsFailed) return session;
        log.Info($"smtp-out: Error on session {session.Id:x16}: opportunistic TLS failed, downgrading to plain");
        return await ConnectAsync(endpoint, hostName, ptrName, options, log, plain: true, ct);
    }

    /// <summary>Returns a greeted session, or one whose opportunistic TLS failed (closed, to be replaced).</summary>
    static async Task<SmtpClientSession> ConnectAsync(IPEndPoint endpoint, string hostName, string? ptrName, ClientOptions options, SmtpdLog log, bool plain, CancellationToken ct)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (options.SourceFor(endpoint.Address) is { } source) socket.Bind(new IPEndPoint(source, 0));
        var session = new SmtpClientSession(socket, options, log, hostName, ptrName) { _plain = plain };
        string scheme = options.Tls == MtaTls.Smtps ? "smtps" : "smtp";
        log.Info($"{session.Id:x16} mta connecting address={scheme}://{endpoint} host={ptrName ?? hostName}");
        try
        {
            using (var timeout = Timeout(options, ct, TimeSpan.FromSeconds(Math.Min(30, options.Timeout.TotalSeconds))))
            {
                try { await socket.ConnectAsync(endpoint, timeout.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new MtaException("Connection timeout"); }
                catch (SocketException ex) { throw new MtaException($"Connection failed: {ex.Message}"); }
            }
            session.Use(new NetworkStream(socket, ownsSocket: true));
            session._helo = await session.HeloNameAsync(ct);
            log.Info($"{session.Id:x16} mta connected");
            if (options.Tls == MtaTls.Smtps) await session.StartTlsAsync(ct);
            await session.GreetAsync(ct);
            return session;
        }
        catch (MtaException ex) when (session._opportunisticTlsFailed)
        {
            log.Info($"{session.Id:x16} mta error reason={ex.Message}");
            await session.DisposeAsync();
            return session;
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    /// <summary>This session skips STARTTLS: the last one to this host failed its opportunistic handshake.</summary>
    bool _plain;
    bool _opportunisticTlsFailed;

    async Task GreetAsync(CancellationToken ct)
    {
        var banner = await ReadReplyAsync(ct);
        if (!banner.IsPositive) throw new MtaException($"BANNER rejected: {banner.Text}");
        await HelloAsync(ct);

        bool offered = _extensions.Contains("STARTTLS");
        if (!Secure && _options.Tls == MtaTls.Required && !offered)
            throw new MtaException("TLS required but not offered by the server");
        if (!Secure && offered && !_plain && _options.Tls is MtaTls.Opportunistic or MtaTls.Required)
        {
            var reply = await CommandAsync("STARTTLS", ct);
            if (reply.IsPositive)
            {
                try { await StartTlsAsync(ct); }
                catch (MtaException) when (_options.Tls == MtaTls.Opportunistic) { _opportunisticTlsFailed = true; throw; }
                await HelloAsync(ct);
            }
            // Refused opportunistic STARTTLS: go on in plain text on this session (OpenSMTPD does).
            else if (_options.Tls == MtaTls.Required)
                throw new MtaException($"STARTTLS refused: {reply.Text}");
        }
        if (_options.Credentials is { } credentials) await AuthenticateAsync(credentials, ct);
    }

    /// <summary>Our name in EHLO/HELO: from <c>helo-src</c> by the address this connection left from, else the action's.</summary>
    async ValueTask<string> HeloNameAsync(CancellationToken ct)
    {
        if (_options.HeloBySource is null || _socket.LocalEndPoint is not IPEndPoint local) return _options.Helo;
        try { return await _options.HeloBySource(local.Address, ct) ?? _options.Helo; }
        catch (Table.TableTempFailException ex) { throw new MtaException($"helo-src lookup failed: {ex.Message}"); }
    }

    string _helo = "";

    async Task HelloAsync(CancellationToken ct)
    {
        var reply = await CommandAsync($"EHLO {_helo}", ct);
        if (!reply.IsPositive)
        {
            reply = await CommandAsync($"HELO {_helo}", ct);
            if (!reply.IsPositive) throw new MtaException($"HELO rejected: {reply.Text}");
            _extensions = [];
            return;
        }
        _extensions = reply.Extensions.Select(e => e.Split(' ')[0]).ToHashSet();
        _peerSizeLimit = reply.Extensions.Select(e => e.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(w => w is ["SIZE", _]).Select(w => long.TryParse(w[1], out long n) && n > 0 ? n : 0).FirstOrDefault();
        _authMechanisms = reply.Extensions.Where(e => e.StartsWith("AUTH", StringComparison.Ordinal))
            .SelectMany(e => e[4..].Split([' ', '='], StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
    }

    HashSet<string> _authMechanisms = [];

    /// <summary>The peer's certificate passed the check (chain and host name); false in plain text or when it failed.</summary>
    public bool Verified { get; private set; }
    /// <summary>
    /// What the delivery log's <c>tls=</c> says: <c>dane</c> (matched the TLSA records),
    /// <c>sts</c> (verified under an enforced MTA-STS policy), <c>verified</c>, <c>unverified</c>
    /// (encrypted, certificate not proven) or <c>none</c> (plain text).
    /// </summary>
    public string TlsLabel => !Secure ? "none"
        : !Verified ? "unverified"
        : _options.Dane is not null ? "dane"
        : _options.Policy == TlsPolicy.TlsPolicyMode.StsEnforce ? "sts"
        : "verified";

    /// <summary>Why the peer's certificate failed the check, once TLS was tried.</summary>
    string? _certificateProblem;

    /// <summary>Why the peer's certificate failed the check (DANE or chain and name); null when it passed or TLS was not tried.</summary>
    public string? CertificateProblem => _certificateProblem;

    async Task StartTlsAsync(CancellationToken ct)
    {
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            // The name the certificate must be for, and SNI (an address literal loses its brackets).
            TargetHost = HostName.Trim('[', ']'),
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
            CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            // Always checked so that the log says whether the peer was verified; enforced only
            // when the action asks for TLS (smtp+tls, smtps, tls) without no-verify.
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                try
                {
                    _certificateProblem = _options.Dane is { } dane
                        ? TlsPolicy.Dane.DaneCheck.Problem(HostName.Trim('[', ']'), certificate, chain, dane)
                        : PeerCertificateCheck.Problem(HostName.Trim('[', ']'), certificate, chain, errors, _options.TrustedCas);
                }
                catch (Exception ex) { _certificateProblem = $"cannot check the certificate: {ex.Message}"; }
                Verified = _certificateProblem is null;
                // DANE records are the domain's own demand: a mismatch never goes on (RFC 7672 2.2).
                return Verified || !(_options.VerifyCertificate || _options.Dane is not null);
            },
        };
        using var timeout = Timeout(_options, ct, _options.Timeout);
        try { await ssl.AuthenticateAsClientAsync(options, timeout.Token); }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            if ((_options.VerifyCertificate || _options.Dane is not null) && _certificateProblem is { } problem)
            {
                _log.Info($"{Id:x16} mta server-cert-check result=\"failure\" reason=\"{problem}\"");
                throw new PeerCertificateException(problem);
            }
            throw new MtaException($"TLS handshake failed: {(ex is OperationCanceledException ? "timeout" : ex.InnerException?.Message ?? ex.Message)}");
        }
        Use(ssl);
        TlsVersion = ssl.SslProtocol == System.Security.Authentication.SslProtocols.Tls13 ? "TLSv1.3" : "TLSv1.2";
        _log.Info($"{Id:x16} mta tls ciphers={TlsVersion}:{ssl.NegotiatedCipherSuite}");
        // OpenSMTPD 6.8's line, with the same session id as the delivery lines; the reason is
        // ours. Opportunistic TLS goes on unverified after a failure, as OpenSMTPD's does.
        _log.Info(Verified
            ? $"{Id:x16} mta server-cert-check result=\"success\""
            : $"{Id:x16} mta server-cert-check result=\"failure\" reason=\"{_certificateProblem}\"");
    }

    async Task AuthenticateAsync(NetworkCredential credentials, CancellationToken ct)
    {
        if (!Secure) throw new MtaException("Refusing to authenticate over an unencrypted connection");
        // Credentials go only to the peer the certificate proves, unless the action said "tls no-verify".
        if (_options.VerifyCertificate && !Verified) throw new PeerCertificateException($"refusing to authenticate to an unverified peer ({_certificateProblem ?? "no TLS"})");
        SmtpReply reply;
        if (_authMechanisms.Contains("PLAIN") || !_authMechanisms.Contains("LOGIN"))
        {
            string token = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{credentials.UserName}\0{credentials.Password}"));
            reply = await CommandAsync($"AUTH PLAIN {token}", ct, secret: true);
        }
        else
        {
            reply = await CommandAsync("AUTH LOGIN", ct);
            if (reply.Code == 334) reply = await CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials.UserName)), ct, secret: true);
            if (reply.Code == 334) reply = await CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials.Password)), ct, secret: true);
        }
        // A refused login is the configuration's problem, not the mail's: keep it and retry later.
        if (!reply.IsPositive) throw new MtaException($"Authentication failed: {reply.Text}");
    }

    /// <summary>
    /// One transaction: MAIL, RCPT for each recipient, DATA. Returns one reply per recipient:
    /// its RCPT reply when refused, else the reply to the end of data.
    /// </summary>
    public async Task<IReadOnlyList<SmtpReply>> TransferAsync(string sender, IReadOnlyList<string> recipients, Stream message, long size, CancellationToken ct,
        Dsn? dsn = null)
    {
        IdleSince = _options.Time.GetUtcNow();
        RecipientsAllDeferred = TooManyRecipientFailures = false;
        if (_extensions.Contains("SIZE") && _peerSizeLimit > 0 && size > _peerSizeLimit)
            return recipients.Select(_ => TooLargeForPeer).ToList();
        try
        {
            bool passDsn = dsn is not null && SupportsDsn;
            // The envelope does not keep the client's BODY=, so the message itself is looked at.
            // OpenSMTPD's mta never sends BODY=; we declare 8-bit data to a server offering 8BITMIME
            // (RFC 6152 3). To one that does not, the message goes as it is, as OpenSMTPD does: no
            // downgrade to 7 bit.
            bool eightBit = _extensions.Contains("8BITMIME") && await ContainsEightBitAsync(message, ct);
            string mail = $"MAIL FROM:<{sender}>" + (_extensions.Contains("SIZE") && size > 0 ? $" SIZE={size}" : "")
                + (eightBit ? " BODY=8BITMIME" : "")
                + (passDsn && dsn!.Ret is { } ret ? $" RET={ret}" : "") + (passDsn && dsn!.Envid is { } envid ? $" ENVID={envid}" : "");
            var rcptCommands = recipients.Select((r, i) => $"RCPT TO:<{r}>" + (passDsn ? dsn!.RecipientParameters(i) : "")).ToList();
            SmtpReply? mailReply = null;
            var rcptReplies = new List<SmtpReply>();
            bool pipelining = _extensions.Contains("PIPELINING");
            if (!pipelining)
            {
                mailReply = await CommandAsync(mail, ct);
                SmtpReply refused = mailReply;
                if (!refused.IsPositive) { await ResetAsync(ct); return recipients.Select(_ => refused).ToList(); }
            }
            while (rcptReplies.Count < rcptCommands.Count && _rcptFailuresInARow < MaxRcptFailuresInARow)
            {
                // Never more RCPTs in flight than refusals the session may still take in a row.
                int window = pipelining ? Math.Min(rcptCommands.Count - rcptReplies.Count, MaxRcptFailuresInARow - _rcptFailuresInARow) : 1;
                var batch = rcptCommands.Skip(rcptReplies.Count).Take(window).Select(c => c + "\r\n");
                await WriteAsync(mailReply is null ? string.Concat(batch.Prepend(mail + "\r\n")) : string.Concat(batch), ct);
                mailReply ??= await ReadReplyAsync(ct);
                for (int i = 0; i < window; i++)
                {
                    var reply = await ReadReplyAsync(ct);
                    rcptReplies.Add(reply);
                    // RCPTs after a refused MAIL say nothing about the recipients.
                    if (mailReply.IsPositive) _rcptFailuresInARow = reply.IsPositive ? 0 : _rcptFailuresInARow + 1;
                }
                if (!mailReply.IsPositive) break;
            }
            if (mailReply is null || !mailReply.IsPositive)
            {
                await ResetAsync(ct);
                SmtpReply refused = mailReply ?? TooManyFailures;
                return recipients.Select(_ => refused).ToList();
            }
            if (_rcptFailuresInARow >= MaxRcptFailuresInARow)
            {
                // OpenSMTPD: "Too many consecutive errors, closing connection"; no DATA for
                // those accepted, the rest are not even asked for: the whole batch waits.
                TooManyRecipientFailures = true;
                Retired = true;
                await ResetAsync(ct);
                return rcptReplies.Select(r => r.IsPermanent ? r : TooManyFailures).Concat(recipients.Skip(rcptReplies.Count).Select(_ => TooManyFailures)).ToList();
            }
            RecipientsAllDeferred = rcptReplies.Count > 0 && rcptReplies.All(r => r.IsTransient);
            if (!rcptReplies.Any(r => r.IsPositive))
            {
                await ResetAsync(ct);
                return rcptReplies;
            }

            var data = await CommandAsync("DATA", ct);
            if (data.Code != 354)
            {
                await ResetAsync(ct);
                return rcptReplies.Select(r => r.IsPositive ? data : r).ToList();
            }
            await DotStuffing.CopyAsync(message, _stream, ct);
            var final = await ReadReplyAsync(ct);
            Messages++;
            return rcptReplies.Select(r => r.IsPositive ? final : r).ToList();
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            Usable = false;
            throw new MtaException(ex is OperationCanceledException ? "Timeout" : $"Connection lost: {SystemErrors.Describe(ex)}");
        }
        catch (MtaException)
        {
            Usable = false;
            throw;
        }
        finally { IdleSince = _options.Time.GetUtcNow(); }
    }

    /// <summary>Whether the message has a byte above 127; leaves the stream at its start. Unknown (not seekable): no.</summary>
    static async Task<bool> ContainsEightBitAsync(Stream message, CancellationToken ct)
    {
        if (!message.CanSeek) return false;
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            message.Position = 0;
            int n;
            while ((n = await message.ReadAsync(buffer, ct)) > 0)
                if (buffer.AsSpan(0, n).IndexOfAnyInRange((byte)0x80, (byte)0xff) >= 0) return true;
            return false;
        }
        finally
        {
            message.Position = 0;
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    async Task ResetAsync(CancellationToken ct)
    {
        var reply = await CommandAsync("RSET", ct);
        if (!reply.IsPositive) Usable = false;
    }

    public async Task QuitAsync(string reason)
    {
        if (Usable)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5), _options.Time);
                await CommandAsync("QUIT", cts.Token);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or MtaException) { }
        }
        Usable = false;
        _log.Info($"{Id:x16} mta disconnected reason={reason} messages={Messages}");
    }

    async Task<SmtpReply> CommandAsync(string command, CancellationToken ct, bool secret = false)
    {
        await WriteAsync(command + "\r\n", ct);
        return await ReadReplyAsync(ct);
    }

    async Task WriteAsync(string text, CancellationToken ct)
    {
        using var timeout = Timeout(_options, ct, _options.Timeout);
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text), timeout.Token);
        await _stream.FlushAsync(timeout.Token);
    }

    async Task<SmtpReply> ReadReplyAsync(CancellationToken ct)
    {
        using var timeout = Timeout(_options, ct, _options.Timeout);
        try { return await _replies.ReadAsync(timeout.Token); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { Usable = false; throw new MtaException("Timeout waiting for the server"); }
        catch (SmtpReplyException ex)
        {
            Usable = false;
            throw new MtaException(ex.Problem switch
            {
                SmtpReplyProblem.Closed => "Connection closed by the server",
                SmtpReplyProblem.LineTooLong => "Reply line too long",
                SmtpReplyProblem.TooManyLines => "Reply too long",
                _ => $"Invalid reply from the server: {Printable(ex.Line)}",
            });
        }
    }

    void Use(Stream stream)
    {
        _input.Complete();
        _stream = stream;
        (_input, _replies) = ReadFrom(stream);
    }

    static (PipeReader, SmtpReplyReader) ReadFrom(Stream stream)
    {
        var input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        return (input, new SmtpReplyReader(input));
    }

    static string Printable(string s) => new(s.Take(200).Select(c => c < 0x20 || c > 0x7e ? '?' : c).ToArray());

    static Deadline Timeout(ClientOptions options, CancellationToken ct, TimeSpan after) => Deadline.After(options.Time, after, ct);

    public async ValueTask DisposeAsync()
    {
        Usable = false;
        // The reader is not completed here: a read may still be pending on another task, and
        // disposing the stream ends it; its buffers are left to the collector.
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
