using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Smtpd.Tests.Mta;

/// <summary>
/// A receiving SMTP server on a loopback address whose misbehaviour a test chooses: the banner
/// and EHLO/HELO replies, the extensions it offers, a STARTTLS that is refused or whose handshake
/// is broken, AUTH LOGIN. Records every command line and every message it accepted.
/// </summary>
public sealed class ScriptedPeer : IAsyncDisposable
{
    readonly TcpListener _listener;
    readonly CancellationTokenSource _stop = new();
    Task _accepting = Task.CompletedTask;
    int _connections;

    public ScriptedPeer(string address = "127.0.0.1", int port = 0) => _listener = new TcpListener(IPAddress.Parse(address), port);

    public string Banner { get; init; } = "220 peer.example ESMTP";
    /// <summary>How long a connection waits for the banner (a slow server: the client's attempt stays under way).</summary>
    public TimeSpan BannerDelay { get; init; }
    /// <summary>A full reply line refusing EHLO (and then HELO), or null to accept.</summary>
    public string? RefuseHello { get; init; }
    public string[] Extensions { get; init; } = ["PIPELINING"];
    /// <summary>Reply to STARTTLS, e.g. "454 4.7.0 TLS not available"; with "220 ..." the bytes that follow are not TLS.</summary>
    public string StartTlsReply { get; init; } = "454 4.7.0 TLS not available";
    /// <summary>Accepted login for AUTH LOGIN, as user:password.</summary>
    public string? Login { get; init; }
    /// <summary>Implicit TLS (smtps) with a self-signed certificate for peer.example, or <see cref="TlsCertificate"/>.</summary>
    public bool Smtps { get; init; }
    /// <summary>A certificate (with key) for smtps and for a real STARTTLS handshake after a 220 reply to STARTTLS.</summary>
    public X509Certificate2? TlsCertificate { get; init; }
    /// <summary>Intermediate CA certificates sent with <see cref="TlsCertificate"/>.</summary>
    public X509Certificate2Collection? TlsIntermediates { get; init; }

    SslServerAuthenticationOptions ServerTlsOptions() => TlsIntermediates is null
        ? new() { ServerCertificate = TlsCertificate ?? Certificate() }
        : new() { ServerCertificateContext = SslStreamCertificateContext.Create(TlsCertificate!, TlsIntermediates, offline: true) };
    public int TlsSessions => _tlsSessions;
    int _tlsSessions;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public int Connections => _connections;
    public ConcurrentQueue<string> Commands { get; } = new();
    public ConcurrentQueue<string> Messages { get; } = new();

    public ScriptedPeer Start()
    {
        _listener.Start();
        _accepting = AcceptAsync();
        return this;
    }

    public int Count(string commandPrefix) => Commands.Count(c => c.StartsWith(commandPrefix, StringComparison.OrdinalIgnoreCase));

    async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                _ = ServeAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { }
    }

    async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        Stream stream = client.GetStream();
        try
        {
            if (Smtps)
            {
                var ssl = new SslStream(stream);
                await ssl.AuthenticateAsServerAsync(ServerTlsOptions(), _stop.Token);
                Interlocked.Increment(ref _tlsSessions);
                stream = ssl;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException) { return; }
        var reader = new StreamReader(stream, Encoding.Latin1);
        async Task Say(string s)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(s + "\r\n"), _stop.Token);
            await stream.FlushAsync(_stop.Token);
        }
        try
        {
            if (BannerDelay > TimeSpan.Zero) await Task.Delay(BannerDelay, _stop.Token);
            await Say(Banner);
            if (!Banner.StartsWith('2')) { await reader.ReadLineAsync(_stop.Token); return; }
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                Commands.Enqueue(line);
                switch (line.Split(' ')[0].ToUpperInvariant())
                {
                    case "EHLO":
                        if (RefuseHello is not null) { await Say(RefuseHello); break; }
                        string[] lines = ["peer.example", .. Extensions];
                        for (int i = 0; i < lines.Length; i++) await Say($"250{(i < lines.Length - 1 ? '-' : ' ')}{lines[i]}");
                        break;
                    case "HELO": await Say(RefuseHello ?? "250 peer.example"); break;
                    case "STARTTLS":
                        await Say(StartTlsReply);
                        if (StartTlsReply.StartsWith('2') && TlsCertificate is not null)
                        {
                            // A real handshake; a client that rejects the certificate ends the connection here.
                            var ssl = new SslStream(stream);
                            try { await ssl.AuthenticateAsServerAsync(ServerTlsOptions(), _stop.Token); }
                            catch (System.Security.Authentication.AuthenticationException) { return; }
                            Interlocked.Increment(ref _tlsSessions);
                            stream = ssl;
                            reader = new StreamReader(stream, Encoding.Latin1);
                            break;
                        }
                        // A middlebox that strips TLS, or a broken TLS stack: what comes next is no handshake.
                        if (StartTlsReply.StartsWith('2')) { await Say("this is not TLS"); return; }
                        break;
                    case "AUTH":
                        if (Login is null || !line.Equals("AUTH LOGIN", StringComparison.OrdinalIgnoreCase)) { await Say("504 5.5.4 Mechanism not supported"); break; }
                        await Say("334 VXNlcm5hbWU6");
                        string user = Encoding.UTF8.GetString(Convert.FromBase64String(await reader.ReadLineAsync(_stop.Token) ?? ""));
                        await Say("334 UGFzc3dvcmQ6");
                        string password = Encoding.UTF8.GetString(Convert.FromBase64String(await reader.ReadLineAsync(_stop.Token) ?? ""));
                        Commands.Enqueue($"(login {user}:{password})");
                        await Say($"{user}:{password}" == Login ? "235 2.7.0 Authentication succeeded" : "535 5.7.8 Authentication failed");
                        break;
                    case "DATA":
                        await Say("354 go ahead");
                        var message = new StringBuilder();
                        while (await reader.ReadLineAsync(_stop.Token) is { } data && data != ".") message.Append(data).Append('\n');
                        Messages.Enqueue(message.ToString());
                        await Say("250 2.0.0 Ok: queued");
                        break;
                    case "QUIT": await Say("221 2.0.0 Bye"); return;
                    default: await Say("250 2.0.0 Ok"); break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or FormatException) { }
    }

    static X509Certificate2 Certificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=peer.example", key, HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
    }
}
