using System.Net;
using System.Net.Sockets;
using Smtpd.Config;

namespace Smtpd.Smtp;

/// <summary>
/// The SMTP component: binds every <c>listen on</c> address, accepts connections and runs one
/// <see cref="SmtpSession"/> per connection. Binding happens before privileges could be dropped
/// and before anything is accepted, so a bad listener stops the start, not a session. Admin
/// requests (<see cref="SmtpMessage"/>) come by the bus and are handled on its own loop.
/// </summary>
public sealed class SmtpServer : IAsyncDisposable
{
    readonly SmtpContext _ctx;
    readonly List<(Socket Socket, ListenerSetup Setup)> _sockets = [];
    readonly IReadOnlyList<ListenerSetup> _listeners;
    readonly System.Collections.Concurrent.ConcurrentDictionary<Task, bool> _sessions = new();

    /// <exception cref="Tls.TlsSetupException">A listener's certificate or TLS options cannot be used.</exception>
    public SmtpServer(SmtpContext ctx)
    {
        _ctx = ctx;
        _listeners = ListenerSetup.LoadAll(ctx.Ruleset);
    }

    /// <summary><c>smtpctl pause smtp</c>: new clients get 421 until resumed; sessions under way go on.
    /// Written by the message loop, read by every accept loop.</summary>
    volatile bool _paused;

    /// <summary>The endpoints actually bound (useful with port 0 in tests).</summary>
    public IEnumerable<IPEndPoint> Endpoints => _sockets.Select(s => (IPEndPoint)s.Socket.LocalEndPoint!);

    public void Bind(int defaultPort)
    {
        foreach (var setup in _listeners)
        {
            var listener = setup.Config;
            var addresses = ListenerAddresses.Resolve(listener.Interface);
            if (addresses.Count == 0)
                throw new InvalidOperationException($"{listener.Location}: listen on {listener.Interface}: no address to bind");
            foreach (var address in addresses)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any))
                    socket.DualMode = true;
                var endpoint = new IPEndPoint(address, setup.PortOr(defaultPort));
                try
                {
                    socket.Bind(endpoint);
                    socket.Listen(512);
                }
                catch (SocketException ex)
                {
                    socket.Dispose();
                    throw new InvalidOperationException($"{listener.Location}: cannot listen on {endpoint}: {ex.Message}", ex);
                }
                _sockets.Add((socket, setup));
                _ctx.Log.Debug($"smtp: listening on {endpoint}");
            }
        }
    }

    public Task RunAsync(CancellationToken ct) =>
        Task.WhenAll(_sockets.Select(s => AcceptLoopAsync(s.Socket, s.Setup, ct)).Append(HandleMessagesAsync(ct)));

    async Task HandleMessagesAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var message in _ctx.Bus.Smtp.Reader.ReadAllAsync(ct))
            {
                try { await _ctx.Bus.ProfileAsync("smtp", message, () => { Handle(message); return Task.CompletedTask; }); }
                catch (Exception ex)
                {
                    // The request's caller was told; the listeners go on.
                    _ctx.Log.Warn($"smtp: unexpected error handling {message.GetType().Name}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    void Handle(SmtpMessage message)
    {
        switch (message)
        {
            case SmtpPause m:
                _paused = m.Paused;
                _ctx.Log.Info($"info: smtp {(m.Paused ? "paused" : "resumed")}");
                m.Reply.Answer(true);
                break;
        }
    }

    async Task AcceptLoopAsync(Socket listen, ListenerSetup config, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                await _ctx.Descriptors.WaitForRoomAsync("smtp", _ctx.Log, ct);
                client = await listen.AcceptAsync(ct);
                _ctx.Descriptors.Accepted();
            }
            catch (OperationCanceledException) { break; }
            catch (SocketException ex)
            {
                // Out of descriptors or a transient network error: pause instead of spinning.
                _ctx.Log.Warn($"smtp: accept: {ex.Message}");
                try { await Task.Delay(TimeSpan.FromMilliseconds(100), _ctx.Time, ct); } catch (OperationCanceledException) { break; }
                continue;
            }
            client.NoDelay = true;
            if (_paused)
            {
                _ = RefuseAsync(client);
                continue;
            }
            var task = RunSessionAsync(client, config, (IPEndPoint)listen.LocalEndPoint!, ct);
            _sessions[task] = true;
            _ = task.ContinueWith(t => _sessions.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    async Task RefuseAsync(Socket client)
    {
        using (client)
        {
            try { await client.SendAsync(Replies.Paused.Bytes, SocketFlags.None); }
            catch (SocketException) { }
        }
    }

    async Task RunSessionAsync(Socket client, ListenerSetup config, IPEndPoint bound, CancellationToken ct)
    {
        await Task.Yield();
        var stats = _ctx.Bus.Stats;
        stats.Increment(Stats.StatKeys.SmtpConnect);
        stats.Increment(Stats.StatKeys.SmtpSession);
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            var remote = client.RemoteEndPoint as IPEndPoint;
            if (remote?.Address.IsIPv4MappedToIPv6 == true) remote = new IPEndPoint(remote.Address.MapToIPv4(), remote.Port);
            stats.Increment(remote?.AddressFamily == AddressFamily.InterNetworkV6 ? Stats.StatKeys.SmtpSessionInet6 : Stats.StatKeys.SmtpSessionInet4);
            await new SmtpSession(_ctx, config, stream, remote, ct) { ListenEndPoint = bound }.RunAsync();
        }
        catch (Exception ex)
        {
            _ctx.Log.Warn($"smtp: session ended by error: {ex}");
        }
        finally
        {
            stats.Decrement(Stats.StatKeys.SmtpSession);
            stats.Increment(Stats.StatKeys.SmtpDisconnect);
        }
    }

    /// <summary>
    /// Runs an SMTP session over a local stream (the control socket's enqueue, used by
    /// <c>smtpctl sendmail</c>): no client address, so it is <c>from local</c> (and <c>socket</c>).
    /// <paramref name="boundSender"/>, when set, is the only sender this local user may give.
    /// </summary>
    public async Task RunLocalSessionAsync(Stream stream, string? boundSender, CancellationToken ct)
    {
        var listener = _listeners.FirstOrDefault(l => l.Config.IsSocket) ?? LocalSetup;
        var stats = _ctx.Bus.Stats;
        stats.Increment(Stats.StatKeys.SmtpConnect);
        stats.Increment(Stats.StatKeys.SmtpSession);
        stats.Increment(Stats.StatKeys.SmtpSessionLocal);
        try { await new SmtpSession(_ctx, listener, stream, null, ct) { BoundSender = boundSender }.RunAsync(); }
        finally
        {
            stats.Decrement(Stats.StatKeys.SmtpSession);
            stats.Increment(Stats.StatKeys.SmtpDisconnect);
        }
    }

    ListenerSetup LocalSetup => new(new ListenerConfig("socket", null, null, null, new ConfigLocation("(local)", 0)) { IsSocket = true },
        new Tls.ListenerSecurity(), null);

    public async ValueTask DisposeAsync()
    {
        foreach (var (socket, _) in _sockets) socket.Dispose();
        Task[] running = [.. _sessions.Keys];
        // Sessions were told to stop through the token; give them a bounded time to say 421.
        await Task.WhenAny(Task.WhenAll(running), Task.Delay(TimeSpan.FromSeconds(5), _ctx.Time));
    }
}
