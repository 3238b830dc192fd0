namespace Smtpd.Control;

/// <summary>
/// Enqueues mail left in <c>offline/</c> while the daemon runs: once at start (with recovery of
/// claimed files, see <see cref="OfflineQueue"/>), then whenever a file appears there (inotify,
/// through FileSystemWatcher), and every minute in case a notification was lost (an inotify
/// limit, a file system that has none). A sendmail that could not reach the socket, or a file
/// an administrator drops in by hand, is thus sent at once, not at the next restart. Flushes
/// run one after another; a burst of files is one flush.
/// </summary>
public sealed class OfflineWatcher(string directory, Func<bool, Task> flush, SmtpdLog log)
{
    static readonly TimeSpan Sweep = TimeSpan.FromMinutes(1);

    public async Task RunAsync(CancellationToken ct)
    {
        await FlushAsync(recover: true);
        var wake = new SemaphoreSlim(0);
        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(directory) { NotifyFilter = NotifyFilters.FileName, IncludeSubdirectories = false };
            // sendmail writes NAME.tmp and renames it: the rename is the file's arrival.
            watcher.Created += (_, _) => Wake(wake);
            watcher.Renamed += (_, _) => Wake(wake);
            watcher.Error += (_, _) => Wake(wake);
            watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            log.Warn($"offline: cannot watch {directory} ({SystemErrors.Describe(ex)}); looking every {Sweep.TotalSeconds:F0} s");
            watcher?.Dispose();
            watcher = null;
        }
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try { await wake.WaitAsync(Sweep, ct); }
                catch (OperationCanceledException) { break; }
                while (wake.CurrentCount > 0) wake.Wait(0); // one flush for a burst
                await FlushAsync(recover: false);
            }
        }
        finally { watcher?.Dispose(); }
    }

    static void Wake(SemaphoreSlim wake)
    {
        if (wake.CurrentCount == 0) wake.Release();
    }

    async Task FlushAsync(bool recover)
    {
        try { await flush(recover); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            log.Warn($"offline: {SystemErrors.Describe(ex)}");
        }
    }
}
