using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Control;

/// <summary>
/// A receiving SMTP server on a free loopback port that answers the end of DATA with 451 until
/// told to accept; counts the messages it accepted.
/// </summary>
public sealed class DeferringPeer : IAsyncDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource _stop = new();
    readonly Task _accepting;
    int _accepted;

    public DeferringPeer() { _listener.Start(); _accepting = AcceptAsync(); }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public volatile bool Accepting;
    /// <summary>Hang up in the middle of the next DATA (once).</summary>
    public volatile bool DropNextData;
    public int Accepted => _accepted;

    async Task AcceptAsync()
    {
        try { while (true) _ = ServeAsync(await _listener.AcceptTcpClientAsync(_stop.Token)); }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { }
    }

    async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII);
        async Task Say(string s) => await stream.WriteAsync(Encoding.ASCII.GetBytes(s + "\r\n"), _stop.Token);
        try
        {
            await Say("220 peer.example ESMTP");
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                switch (line.Split(' ')[0].ToUpperInvariant())
                {
                    case "DATA":
                        await Say("354 go ahead");
                        if (DropNextData) { DropNextData = false; await reader.ReadLineAsync(_stop.Token); return; }
                        while (await reader.ReadLineAsync(_stop.Token) is { } data && data != ".") { }
                        if (Accepting) { Interlocked.Increment(ref _accepted); await Say("250 2.0.0 Ok: queued"); }
                        else await Say("451 4.3.0 Try again later");
                        break;
                    case "QUIT": await Say("221 2.0.0 Bye"); return;
                    default: await Say("250 2.0.0 Ok"); break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
    }
}
