using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Mta;

/// <summary>
/// A greylisting SMTP server on a free loopback port: every recipient is deferred with 451 until
/// it was first seen <c>period</c> ago, then accepted. Counts RCPT commands and messages.
/// </summary>
public sealed class GreylistPeer : IAsyncDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource _stop = new();
    readonly ConcurrentDictionary<string, DateTime> _firstSeen = new();
    readonly TimeSpan _period;
    readonly Task _accepting;
    int _rcpts, _messages;

    public GreylistPeer(TimeSpan period)
    {
        _period = period;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public int RcptCommands => _rcpts;
    public int Messages => _messages;
    /// <summary>RCPT commands per recipient address (lower case).</summary>
    public ConcurrentDictionary<string, int> RcptsFor { get; } = new();
    /// <summary>The recipients of each message accepted.</summary>
    public ConcurrentQueue<IReadOnlyList<string>> Delivered { get; } = new();
    /// <summary>Per finished connection: RCPTs it carried and how many were accepted.</summary>
    public ConcurrentQueue<(int Rcpts, int Accepted)> Connections { get; } = new();

    async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = ServeAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { }
    }

    async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII);
        async Task Say(string s) => await stream.WriteAsync(Encoding.ASCII.GetBytes(s + "\r\n"), _stop.Token);
        int rcpts = 0, acceptedRcpts = 0;
        try
        {
            await Say("220 grey.example ESMTP greylisting");
            bool accepted = false;
            var acceptedTo = new List<string>();
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                string verb = line.Split(' ')[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO": await Say("250-grey.example"); await Say("250 PIPELINING"); break;
                    case "RCPT":
                        Interlocked.Increment(ref _rcpts);
                        rcpts++;
                        string to = line.Length > 8 ? line[8..].Trim().Trim('<', '>').ToLowerInvariant() : "";
                        RcptsFor.AddOrUpdate(to, 1, (_, n) => n + 1);
                        var first = _firstSeen.GetOrAdd(line.ToLowerInvariant(), _ => DateTime.UtcNow);
                        if (DateTime.UtcNow - first < _period) await Say("451 4.7.1 Greylisted, please try again later");
                        else { accepted = true; acceptedRcpts++; acceptedTo.Add(to); await Say("250 2.1.5 Ok"); }
                        break;
                    case "DATA":
                        if (!accepted) { await Say("554 5.5.1 No valid recipients"); break; }
                        await Say("354 go ahead");
                        while (await reader.ReadLineAsync(_stop.Token) is { } data && data != ".") { }
                        Interlocked.Increment(ref _messages);
                        Delivered.Enqueue([.. acceptedTo]);
                        acceptedTo.Clear();
                        accepted = false;
                        await Say("250 2.0.0 Ok: queued");
                        break;
                    case "RSET": accepted = false; acceptedTo.Clear(); await Say("250 2.0.0 Ok"); break;
                    case "QUIT": await Say("221 2.0.0 Bye"); return;
                    default: await Say("250 2.0.0 Ok"); break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException) { }
        finally { Connections.Enqueue((rcpts, acceptedRcpts)); }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
    }
}
