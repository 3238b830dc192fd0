using System.Net;
using System.Net.Sockets;
using Smtpd.Config;

namespace Smtpd.Smtp;

/// <summary>A listening socket and the listener options new sessions on it get (replaced by a reload).</summary>
public sealed class BoundListener(Socket socket, IPEndPoint endPoint, ListenerSetup setup)
{
    public Socket Socket { get; } = socket;
    /// <summary>The address and port as configured (the socket's own, for port 0 in tests, may differ).</summary>
    public IPEndPoint EndPoint { get; } = endPoint;
    public ListenerSetup Setup { get => _setup; set => _setup = value; }
    volatile ListenerSetup _setup = setup;
    readonly CancellationTokenSource _stop = new();
    public Task? Loop { get; private set; }

    public void Start(Func<BoundListener, CancellationToken, Task> acceptLoop, CancellationToken running)
    {
        var both = CancellationTokenSource.CreateLinkedTokenSource(running, _stop.Token);
        Loop = acceptLoop(this, both.Token).ContinueWith(_ => both.Dispose(), TaskScheduler.Default);
    }

    /// <summary>A reload removed this listener: no more accepts; sessions already accepted go on.</summary>
    public void Close()
    {
        _stop.Cancel();
        Socket.Dispose();
    }
}

/// <summary>
/// A reload's listeners, ready before anything changes: the sockets already bound that stay (with
/// their new options), the new ones, bound now, and the ones to close.
/// </summary>
public sealed record PreparedListeners(
    IReadOnlyList<(BoundListener Listener, ListenerSetup Setup)> Kept,
    IReadOnlyList<BoundListener> Added,
    IReadOnlyList<BoundListener> Removed,
    IReadOnlyList<ListenerSetup> All)
{
    /// <summary>The reload failed after all: the sockets bound for it are closed.</summary>
    public void Abandon()
    {
        foreach (var added in Added) added.Socket.Dispose();
    }
}

/// <summary>What a reload did to the listeners, for its log line.</summary>
public sealed record ListenerChanges(IReadOnlyList<IPEndPoint> Kept, IReadOnlyList<IPEndPoint> Added, IReadOnlyList<IPEndPoint> Removed);

public sealed partial class SmtpServer
{
    /// <summary>
    /// Compares <paramref name="listeners"/> with the sockets bound now and binds the addresses
    /// that are new (with <paramref name="bind"/>: as root the privileged helper binds ports below
    /// 1024). Nothing changes for clients until the result is committed by <see cref="SmtpReconfigure"/>.
    /// </summary>
    /// <exception cref="ConfigException">A new address cannot be bound; those bound for it are closed again.</exception>
    public async Task<PreparedListeners> PrepareListenersAsync(IReadOnlyList<ListenerSetup> listeners, int defaultPort,
        Func<IPEndPoint, CancellationToken, Task<Socket>> bind, CancellationToken ct)
    {
        List<BoundListener> bound;
        lock (_sockets) bound = [.. _sockets];
        var kept = new List<(BoundListener, ListenerSetup)>();
        var added = new List<BoundListener>();
        try
        {
            foreach (var (setup, endpoint) in ListenerEndpoints.Of(listeners, defaultPort))
            {
                if (bound.FirstOrDefault(b => b.EndPoint.Equals(endpoint)) is { } existing)
                {
                    bound.Remove(existing);
                    kept.Add((existing, setup));
                    continue;
                }
                try { added.Add(new BoundListener(await bind(endpoint, ct), endpoint, setup)); }
                catch (Exception ex) when (ex is SocketException or IOException or InvalidOperationException)
                {
                    throw new ConfigException([new ConfigError(setup.Config.Location, $"cannot listen on {endpoint}: {ex.Message}")]);
                }
            }
        }
        catch (ConfigException)
        {
            foreach (var a in added) a.Socket.Dispose();
            throw;
        }
        return new PreparedListeners(kept, added, bound, listeners);
    }

    /// <summary>On the message loop: new sessions get the new configuration; listeners are swapped.</summary>
    ListenerChanges Commit(SmtpReconfigure m)
    {
        var prepared = m.Listeners;
        _serving = new Serving(m.Context, m.Generation, prepared.All);
        foreach (var (listener, setup) in prepared.Kept) listener.Setup = setup;
        lock (_sockets)
        {
            foreach (var removed in prepared.Removed)
            {
                removed.Close();
                _sockets.Remove(removed);
            }
            foreach (var added in prepared.Added)
            {
                _sockets.Add(added);
                added.Start(AcceptLoopAsync, _running);
            }
        }
        return new ListenerChanges([.. prepared.Kept.Select(k => k.Listener.EndPoint)], [.. prepared.Added.Select(a => a.EndPoint)],
            [.. prepared.Removed.Select(r => r.EndPoint)]);
    }
}
