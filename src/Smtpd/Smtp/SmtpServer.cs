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
public sealed partial class SmtpServer : IAsyncDisposable
{
    /// <summary>What new sessions get: the context of the configuration in force and its generation.
    /// A reload replaces it at once; a session keeps the one it started with.</summary>
    sealed record Serving(SmtpContext Context, Reload.ConfigGeneration Generation, IReadOnlyList<ListenerSetup> Listeners);

    volatile Serving _serving;
    /// <summary>The context of the first configuration: what does not change with a reload (bus, log, clock).</summary>
    readonly SmtpContext _ctx;
    /// <summary>Bound sockets; changed only by <see cref="Bind"/> before the start and by the message loop after it.</summary>
    readonly List<BoundListener> _sockets = [];
    readonly System.Collections.Concurrent.ConcurrentDictionary<Task, bool> _sessions = new();
    CancellationToken _running;

    /// <param name="listeners">The listeners of <paramref name="generation"/>, certificates loaded.</param>
    public SmtpServer(SmtpContext ctx, Reload.ConfigGeneration generation, IReadOnlyList<ListenerSetup> listeners)
    {
        _ctx = ctx;
        _serving = new Serving(ctx, generation, listeners);
    }

    /// <summary><c>smtpctl pause smtp</c>: new clients get 421 until resumed; sessions under way go on.
    /// Written by the message loop, read by every accept loop.</summary>
    volatile bool _paused;

    /// <summary>The endpoints actually bound (useful with port 0 in tests).</summary>
    public IEnumerable<IPEndPoint> Endpoints
    {
        get { lock (_sockets) return [.. _sockets.Select(s => (IPEndPoint)s.Socket.LocalEndPoint!)]; }
    }

    /// <summary>Binds every listener of the first configuration, before privileges are dropped.</summary>
    /// <exception cref="InvalidOperationException">An address cannot be bound (file:line of its listener).</exception>
    public void Bind(int defaultPort)
    {
        foreach (var (setup, endpoint) in ListenerEndpoints.Of(_serving.Listeners, defaultPort))
        {
            Socket socket;
            try { socket = ListenerEndpoints.Listen(endpoint); }
            catch (SocketException ex) { throw new InvalidOperationException($"{setup.Config.Location}: cannot listen on {endpoint}: {ex.Message}", ex); }
            lock (_sockets) _sockets.Add(new BoundListener(socket, endpoint, setup));
            _ctx.Log.Debug($"smtp: listening on {endpoint}");
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        _running = ct;
        lock (_sockets) foreach (var bound in _sockets) bound.Start(AcceptLoopAsync, ct);
        await HandleMessagesAsync(ct);
        Task[] loops;
        lock (_sockets) loops = [.. _sockets.Select(s => s.Loop).OfType<Task>()];
        await Task.WhenAll(loops);
    }

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
            case SmtpReconfigure m:
                m.Reply.Answer(Commit(m));
                break;
        }
    }

    async Task AcceptLoopAsync(BoundListener bound, CancellationToken ct)
    {
        var listen = bound.Socket;
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
            var task = RunSessionAsync(client, EnterServing(), bound.Setup, bound.EndPoint, ct);
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

    /// <summary>The configuration a session starting now runs under, counted in until the session ends.</summary>
    Serving EnterServing()
    {
        // A reload may retire the one read here before it is entered; the one after it is current.
        var serving = _serving;
        while (!serving.Generation.TryEnter()) serving = _serving;
        return serving;
    }

    async Task RunSessionAsync(Socket client, Serving serving, ListenerSetup config, IPEndPoint bound, CancellationToken ct)
    {
        await Task.Yield();
        var stats = _ctx.Bus.Stats;
        stats.Increment(Stats.StatKeys.SmtpConnect);
        stats.Increment(Stats.StatKeys.SmtpSession);
        string? listener = stats.KeepsLabelledEvents ? SmtpSession.ListenerLabel(config.Config, bound) : null;
        if (listener is not null) stats.Session(listener, +1);
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            var remote = client.RemoteEndPoint as IPEndPoint;
            if (remote?.Address.IsIPv4MappedToIPv6 == true) remote = new IPEndPoint(remote.Address.MapToIPv4(), remote.Port);
            stats.Increment(remote?.AddressFamily == AddressFamily.InterNetworkV6 ? Stats.StatKeys.SmtpSessionInet6 : Stats.StatKeys.SmtpSessionInet4);
            await new SmtpSession(serving.Context, config, stream, remote, ct) { ListenEndPoint = bound }.RunAsync();
        }
        catch (Exception ex)
        {
            _ctx.Log.Warn($"smtp: session ended by error: {ex}");
        }
        finally
        {
            stats.Decrement(Stats.StatKeys.SmtpSession);
            stats.Increment(Stats.StatKeys.SmtpDisconnect);
            if (listener is not null) stats.Session(listener, -1);
            await serving.Generation.Leave();
        }
    }

    /// <summary>
    /// Runs an SMTP session over a local stream (the control socket's enqueue, used by
    /// <c>smtpctl sendmail</c>): no client address, so it is <c>from local</c> (and <c>socket</c>).
    /// <paramref name="boundSender"/>, when set, is the only sender this local user may give.
    /// </summary>
    public async Task RunLocalSessionAsync(Stream stream, string? boundSender, CancellationToken ct)
    {
        var serving = EnterServing();
        var listener = serving.Listeners.FirstOrDefault(l => l.Config.IsSocket) ?? LocalSetup;
        var stats = _ctx.Bus.Stats;
        stats.Increment(Stats.StatKeys.SmtpConnect);
        stats.Increment(Stats.StatKeys.SmtpSession);
        stats.Increment(Stats.StatKeys.SmtpSessionLocal);
        stats.Session(SmtpSession.LocalListenerLabel, +1);
        try { await new SmtpSession(serving.Context, listener, stream, null, ct) { BoundSender = boundSender }.RunAsync(); }
        finally
        {
            await serving.Generation.Leave();
            stats.Decrement(Stats.StatKeys.SmtpSession);
            stats.Increment(Stats.StatKeys.SmtpDisconnect);
            stats.Session(SmtpSession.LocalListenerLabel, -1);
        }
    }

    ListenerSetup LocalSetup => new(new ListenerConfig("socket", null, null, null, new ConfigLocation("(local)", 0)) { IsSocket = true },
        new Tls.ListenerSecurity(), null);

    public async ValueTask DisposeAsync()
    {
        lock (_sockets) foreach (var bound in _sockets) bound.Socket.Dispose();
        Task[] running = [.. _sessions.Keys];
        // Sessions were told to stop through the token; give them a bounded time to say 421.
        await Task.WhenAny(Task.WhenAll(running), Task.Delay(TimeSpan.FromSeconds(5), _ctx.Time));
    }
}
