using System.Net.Security;
using System.Security.Authentication;
using Smtpd.Smtp.Tls;

namespace Smtpd.Smtp;

public sealed partial class SmtpSession
{
    SslStream? _tls;

    /// <summary>
    /// STARTTLS (RFC 3207). Anything the client sent after the command in the same flight is a
    /// command-injection attempt (it would be read as if it came over TLS): refused and the
    /// session closed. After the handshake the session starts over: no HELO, no transaction.
    /// </summary>
    async Task<Reply?> StartTlsAsync(string args)
    {
        if (_helo is null || _tx is not null) return Replies.NotAllowedNow;
        if (!_setup.Security.OffersTls || _setup.Security.Tls == TlsMode.Smtps) return Replies.NotSupported;
        if (_tls is not null) return Replies.AlreadySecured;
        if (args.Length > 0) return Replies.NoParametersAllowed;
        if (HasBufferedInput())
        {
            _ctx.Log.Info($"{Id:x16} smtp failed-command command=\"STARTTLS\" result=\"pipelined commands after STARTTLS\"");
            Send(Replies.StartTlsPipelining);
            _ctx.Bus.Stats.Command("STARTTLS", Replies.StartTlsPipelining.Code);
            await FlushAsync();
            _quit = true;
            _closeReason = "starttls-injection";
            return null;
        }

        Send(Replies.ReadyToStartTls);
        _ctx.Bus.Stats.Command("STARTTLS", Replies.ReadyToStartTls.Code); // answered here: the handler returns no reply
        await FlushAsync();
        if (!await HandshakeAsync())
        {
            _quit = true;
            _closeReason = "tls-handshake-failed";
            return null;
        }
        _helo = null;
        _esmtp = false;
        _tx = null;
        return null;
    }

    /// <summary>
    /// The server side of a TLS handshake over the connection, bounded by its own timeout so that
    /// a client that stalls mid-handshake holds only its own session. On success the session's
    /// pipes are rebuilt over the encrypted stream.
    /// </summary>
    async Task<bool> HandshakeAsync()
    {
        await _input.CompleteAsync();
        await _output.CompleteAsync();
        var ssl = new SslStream(_network, leaveInnerStreamOpen: true);
        using var timeout = Deadline.After(_ctx.Time, _ctx.TlsHandshakeTimeout, _shutdown);
        try
        {
            var tls = _setup.Tls!;
            await ssl.AuthenticateAsServerAsync(
                (_, hello, _, _) => ValueTask.FromResult(tls.OptionsFor(hello.ServerName)), null, timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
        {
            await ssl.DisposeAsync();
            if (_shutdown.IsCancellationRequested) throw;
            string why = ex is OperationCanceledException ? "timeout" : (ex.InnerException?.Message ?? ex.Message);
            _ctx.Log.Info($"{Id:x16} smtp tls-failed address={ClientAddress} reason=\"{Printable(why)}\"");
            return false;
        }
        _tls = ssl;
        (_input, _output) = Pipes(ssl);
        _ctx.Log.Info($"{Id:x16} smtp tls ciphers={TlsDescription}");
        _ctx.Bus.Stats.TlsSession("in", TlsVersion(ssl.SslProtocol));
        if (_filters is not null)
        {
            _filters.TlsVersion = TlsVersion(ssl.SslProtocol);
            _filters.TlsCipher = ssl.NegotiatedCipherSuite.ToString();
            _filters.TlsCipherBits = CipherBits(ssl).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _filters.Report("link-tls", TlsDescription);
        }
        return true;
    }

    /// <summary>OpenSMTPD's "version:cipher:bits" form, used in the log and in Received.</summary>
    string TlsDescription => _tls is null ? "" : $"{TlsVersion(_tls.SslProtocol)}:{_tls.NegotiatedCipherSuite}:{CipherBits(_tls)}";

    bool ClientVerified => _tls?.RemoteCertificate is not null && _setup.Security.VerifyClient;

    static string TlsVersion(SslProtocols p) => p switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => p.ToString(),
    };

    static int CipherBits(SslStream s)
    {
        string suite = s.NegotiatedCipherSuite.ToString();
        return suite.Contains("AES_128", StringComparison.Ordinal) ? 128
            : suite.Contains("CHACHA20", StringComparison.Ordinal) || suite.Contains("AES_256", StringComparison.Ordinal) ? 256
            : 0;
    }
}
