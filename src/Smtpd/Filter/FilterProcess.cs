namespace Smtpd.Filter;

/// <summary>
/// A declared filter process (<c>proc NAME</c> or a <c>proc-exec</c> filter) and its current
/// instance. Started with the daemon; when an instance dies (it exited, hung, broke the protocol)
/// a new one is started, so that the next session is filtered again. Sessions that were using the
/// dead one fail: they cannot be moved to a process that never saw their link-connect.
/// </summary>
public sealed class FilterProcess(string name, string command, string admd, SmtpdLog log, TimeSpan timeout, TimeProvider time) : IAsyncDisposable
{
    /// <summary>A process that keeps dying is restarted no faster than this.</summary>
    static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(1);

    readonly object _lock = new();
    Task<FilterProcessInstance>? _current;
    DateTimeOffset _lastStart = DateTimeOffset.MinValue;
    bool _disposed;

    public string Name => name;

    /// <summary>The running instance, started (or restarted) if needed and ready (registered).</summary>
    /// <exception cref="FilterException">It cannot be started or does not register.</exception>
    public Task<FilterProcessInstance> InstanceAsync()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_current is { } task && !(task.IsFaulted || task.IsCanceled || (task.IsCompletedSuccessfully && task.Result.IsDead)))
                return task;
            var now = time.GetUtcNow();
            var delay = _lastStart == DateTimeOffset.MinValue ? TimeSpan.Zero : _lastStart + RestartDelay - now;
            _lastStart = now + (delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
            _current = StartAsync(delay);
            return _current;
        }
    }

    async Task<FilterProcessInstance> StartAsync(TimeSpan delay)
    {
        if (delay > TimeSpan.Zero) await Task.Delay(delay, time);
        var instance = await FilterProcessInstance.StartAsync(name, command, admd, log, timeout, time);
        // Restart at once when it dies, so that a session arriving later finds it ready.
        _ = instance.Exited.ContinueWith(exited =>
        {
            lock (_lock) if (_disposed) return;
            log.Info($"info: filter {name}: restarting");
            _ = InstanceAsync().ContinueWith(t => { _ = t.Exception; }, TaskContinuationOptions.OnlyOnFaulted);
        }, TaskScheduler.Default);
        return instance;
    }

    public async ValueTask DisposeAsync()
    {
        Task<FilterProcessInstance>? current;
        lock (_lock)
        {
            _disposed = true;
            current = _current;
        }
        if (current is null) return;
        try { (await current).Kill("smtpd is stopping"); }
        catch (FilterException) { }
    }
}
