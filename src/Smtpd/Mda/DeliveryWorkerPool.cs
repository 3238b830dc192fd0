using Smtpd.Privsep;

namespace Smtpd.Mda;

/// <summary>
/// Delivery processes for a daemon that runs unprivileged: the privileged helper starts one per
/// identity (uid, gid, extra group) when needed (never for root), and that one process runs every
/// delivery of its identity at once (<see cref="DeliveryProcess"/>), as many as the Mda's limits
/// let through. An idle one is kept for a short while (10 s), so that a burst of mail for one
/// user costs one process start, not one per message.
/// </summary>
public sealed class DeliveryWorkerPool : IDisposable
{
    /// <summary>
    /// Each delivery process costs about 20 MB: one that has waited this long without work exits
    /// (checked as often, so within twice this), and the next burst starts another.
    /// </summary>
    static readonly TimeSpan IdleLifetime = TimeSpan.FromSeconds(10);

    readonly Lock _lock = new();
    /// <summary>The process of each identity, or its start under way (one start, however many jobs wait for it).</summary>
    readonly Dictionary<(uint, uint, uint?), Task<(DeliveryProcess? Process, Outcome Failure)>> _processes = [];
    readonly PrivilegedClient _helper;
    readonly TimeProvider _time;
    readonly ITimer _reaper;

    public DeliveryWorkerPool(PrivilegedClient helper, TimeProvider time)
    {
        _helper = helper;
        _time = time;
        _reaper = time.CreateTimer(_ => ReapIdle(), null, IdleLifetime, IdleLifetime);
    }

    /// <summary>Delivery processes alive now (for tests and stats).</summary>
    public int Count
    {
        get { lock (_lock) return _processes.Values.Count(t => t.IsCompletedSuccessfully && t.Result.Process is { IsClosed: false }); }
    }

    public async Task<Outcome> RunAsync(DeliveryJob job, uint? extraGroup, Func<Stream> openMessage, CancellationToken ct)
    {
        var identity = job.Identity;
        if (identity.Uid == 0)
            return Outcome.PermFail($"delivery as root is not allowed (user {identity.Name}): alias it to another user");
        var key = (identity.Uid, identity.Gid, extraGroup);
        while (true)
        {
            Task<(DeliveryProcess? Process, Outcome Failure)> starting;
            lock (_lock)
            {
                if (!_processes.TryGetValue(key, out starting!) || starting.IsCompletedSuccessfully && starting.Result.Process is null or { IsClosed: true })
                    _processes[key] = starting = StartAsync(identity, extraGroup);
            }
            var (process, failure) = await starting.WaitAsync(ct);
            if (process is null)
            {
                // This start failed; the next job tries again.
                lock (_lock) if (_processes.GetValueOrDefault(key) == starting) _processes.Remove(key);
                return failure;
            }
            lock (_lock)
            {
                if (process.IsClosed) continue; // exited or reaped meanwhile: start another
                process.Active++;
            }
            try { return await process.RunAsync(job, openMessage, ct); }
            finally
            {
                lock (_lock)
                    if (--process.Active == 0) process.IdleSince = _time.GetUtcNow();
            }
        }
    }

    async Task<(DeliveryProcess?, Outcome)> StartAsync(SystemUser identity, uint? extraGroup)
    {
        try
        {
            // Not one job's cancellation: other jobs wait for this start too (the helper answers within its timeout).
            var (socket, reply) = await _helper.StartWorkerAsync(identity, extraGroup, CancellationToken.None);
            if (socket is not null) return (new DeliveryProcess(socket) { IdleSince = _time.GetUtcNow(), Time = _time }, Outcome.Ok(""));
            return (null, reply.Result == PrivReply.Failed ? Outcome.PermFail(reply.Text ?? "delivery refused") : Outcome.TempFail(reply.Text ?? "no delivery process"));
        }
        catch (IOException ex) { return (null, Outcome.TempFail(ex.Message)); }
    }

    void ReapIdle()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            foreach (var (key, task) in _processes.ToList())
            {
                if (!task.IsCompleted) continue;
                var process = task.IsCompletedSuccessfully ? task.Result.Process : null;
                if (process is { IsClosed: false } && (process.Active > 0 || now - process.IdleSince <= IdleLifetime)) continue;
                _processes.Remove(key);
                process?.Dispose(); // the process sees the end of its input and exits
            }
        }
    }

    public void Dispose()
    {
        _reaper.Dispose();
        lock (_lock)
        {
            foreach (var task in _processes.Values)
                if (task.IsCompletedSuccessfully) task.Result.Process?.Dispose();
            _processes.Clear();
        }
    }
}
