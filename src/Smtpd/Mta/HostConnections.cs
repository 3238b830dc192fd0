namespace Smtpd.Mta;

/// <summary>
/// The connections to one next hop (address + options), shared by every route that ends there,
/// so that domains with the same MX share sessions (seed 000: connection caching). A session
/// that finishes a message goes back here and takes the next one. New connections open
/// progressively (seed 003): one until it has proven itself by delivering, then one more for
/// every <see cref="WaitersPerConnection"/> messages waiting, up to <see cref="MaxConnections"/>.
/// </summary>
public sealed class HostConnections(string hostName, System.Net.IPEndPoint endpoint)
{
    public string HostName { get; } = hostName;
    public System.Net.IPEndPoint Endpoint { get; } = endpoint;
    /// <summary>OpenSMTPD's name of the relay these connections serve (<c>[relay:HOST,port=N,smtp,mx]</c>), for <c>show relays</c>.</summary>
    public string Relay { get; init; } = "";
    /// <summary>The MTA's clock: how long a transfer waits for a session counts on it.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
    int _errors;
    /// <summary>Sessions that could not be opened (connect, TLS, greeting), for <c>show routes</c>.</summary>
    public int Errors => _errors;
    /// <summary>No session to this hop has delivered yet.</summary>
    public bool New { get { lock (_lock) return !_proven; } }

    public const int MaxConnections = 10;
    const int WaitersPerConnection = 10;

    readonly object _lock = new();
    readonly Queue<SmtpClientSession> _idle = new();
    readonly SemaphoreSlim _released = new(0);
    int _open, _waiting;
    bool _proven;

    public int Open { get { lock (_lock) return _open; } }
    public int Idle { get { lock (_lock) return _idle.Count; } }
    public int Waiting { get { lock (_lock) return _waiting; } }

    int Allowed => _proven ? Math.Min(MaxConnections, 1 + _waiting / WaitersPerConnection) : 1;

    /// <summary>An idle session, or a new one when the limits allow, else waits for one to be released.</summary>
    public async Task<SmtpClientSession> AcquireAsync(Func<Task<SmtpClientSession>> open, TimeSpan maxWait, CancellationToken ct)
    {
        using var deadline = Deadline.After(Time, maxWait, ct);
        while (true)
        {
            bool mayOpen = false;
            lock (_lock)
            {
                while (_idle.TryDequeue(out var s))
                {
                    if (s.Usable) return s;
                    _open--;
                    _ = s.DisposeAsync().AsTask();
                }
                if (_open < Allowed) { _open++; mayOpen = true; }
                else _waiting++;
            }
            if (mayOpen)
            {
                try { return await open(); }
                catch
                {
                    Interlocked.Increment(ref _errors);
                    lock (_lock) _open--;
                    _released.Release();
                    throw;
                }
            }
            bool signalled;
            try { signalled = !deadline.IsCancellationRequested && await _released.WaitAsync(Timeout.Infinite, deadline.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { signalled = false; }
            finally { lock (_lock) _waiting--; }
            if (!signalled) throw new MtaException("No connection available to the next hop in time");
        }
    }

    /// <summary>
    /// Messages sent over one session before it is closed and a fresh one opened: OpenSMTPD's
    /// max_mail_per_session (limit.c, 100). A server limits them too (ours and OpenSMTPD's answer
    /// the 101st MAIL with 452 4.5.3), and a message refused that way would wait for its retry.
    /// </summary>
    public const int MaxMessagesPerSession = 100;

    /// <summary>Gives a session back after a message: kept for the next one if it is still sound.</summary>
    public void Release(SmtpClientSession session, bool delivered)
    {
        bool spent = session.Messages >= MaxMessagesPerSession;
        bool keep = session.Usable && !session.Retired && !spent;
        lock (_lock)
        {
            if (delivered) _proven = true;
            if (keep) _idle.Enqueue(session);
            else _open--;
        }
        if (!keep) _ = session.QuitAsync(!session.Usable ? "error" : session.Retired ? "too many errors" : "max messages per session");
        _released.Release();
    }

    /// <summary>Closes sessions idle longer than <paramref name="idle"/>.</summary>
    public List<SmtpClientSession> TakeIdle(TimeSpan idle, DateTimeOffset now)
    {
        var expired = new List<SmtpClientSession>();
        lock (_lock)
        {
            int n = _idle.Count;
            for (int i = 0; i < n; i++)
            {
                var s = _idle.Dequeue();
                if (!s.Usable || now - s.IdleSince > idle) { expired.Add(s); _open--; }
                else _idle.Enqueue(s);
            }
        }
        return expired;
    }
}
