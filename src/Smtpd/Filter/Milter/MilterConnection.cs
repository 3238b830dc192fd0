using System.Net;
using System.Net.Sockets;
using Smtpd.Config;

namespace Smtpd.Filter.Milter;

/// <summary>
/// One connection to a milter (a session's): packets out, packets in, each wait bounded by the
/// caller's timeout on the daemon's clock. It is never reused once something went wrong.
/// </summary>
public sealed class MilterConnection : IAsyncDisposable
{
    readonly Socket _socket;
    readonly NetworkStream _stream;
    readonly TimeProvider _time;

    MilterConnection(Socket socket, TimeProvider time)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _time = time;
    }

    /// <summary>Connects within <paramref name="timeout"/>.</summary>
    /// <exception cref="MilterUnavailableException">It cannot be reached in time.</exception>
    public static async Task<MilterConnection> OpenAsync(MilterAddress address, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        using var deadline = Deadline.After(time, timeout, ct);
        Socket? socket = null;
        try
        {
            if (address.Path is { } path)
            {
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), deadline.Token);
            }
            else if (IPAddress.TryParse(address.Host, out var ip))
            {
                socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(new IPEndPoint(ip, address.Port), deadline.Token);
            }
            else
            {
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(address.Host!, address.Port, deadline.Token);
            }
            return new MilterConnection(socket, time);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket?.Dispose();
            throw new MilterUnavailableException($"no connection to {address} within {timeout.TotalSeconds:0} s");
        }
        catch (SocketException ex)
        {
            socket?.Dispose();
            throw new MilterUnavailableException($"cannot connect to {address}: {ex.Message}");
        }
    }

    /// <exception cref="IOException">The milter is gone.</exception>
    public async Task SendAsync(MilterPacket packet, CancellationToken ct)
    {
        await _stream.WriteAsync(packet.Encode(), ct);
    }

    /// <summary>The next packet, within <paramref name="timeout"/>.</summary>
    /// <exception cref="TimeoutException">None came in time.</exception>
    /// <exception cref="MilterProtocolException">A malformed packet.</exception>
    /// <exception cref="IOException">The milter closed the connection or the read failed.</exception>
    public async Task<MilterPacket> ReceiveAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = Deadline.After(_time, timeout, ct);
        try { return await MilterPacket.ReadAsync(_stream, deadline.Token); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new TimeoutException($"no answer within {timeout.TotalSeconds:0} s"); }
        catch (EndOfStreamException) { throw new IOException("the milter closed the connection"); }
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}

/// <summary>A milter cannot be reached.</summary>
public sealed class MilterUnavailableException(string message) : Exception(message);
