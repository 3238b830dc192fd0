using System.Runtime.InteropServices;

namespace Smtpd;

/// <summary>
/// Seed 002's descriptor exhaustion: a process out of file descriptors cannot open the queue
/// file of a message it is receiving, nor the mailbox it delivers to. So a reserve is kept:
/// once fewer than <see cref="Reserve"/> descriptors are free, the listeners (SMTP and the
/// control socket) stop accepting, and clients wait in the kernel's backlog until sessions end
/// and descriptors are free again. Work already accepted always has descriptors to finish: the
/// reserve serves the queue, deliveries, relays, DNS, smtpctl and the message files of sessions
/// in DATA; a session holds one of <see cref="MessageFiles"/> slots (a quarter of the reserve)
/// while its message file is open, so that sessions entering DATA together cannot take more
/// than that quarter. (OpenSMTPD counts two descriptors for every session instead, which halves
/// the sessions a low limit allows.)
///
/// Counting /proc/self/fd is exact but not free, and it costs more than linearly (here about
/// 1 ms at 1,000 descriptors and 100 ms at 10,000): a count is reused, with every accept since
/// added to it, for a short while, and never for less than twenty times what it took. Far from
/// the limit a new count is taken off the accept path, so that a fresh client never waits for
/// it; near the limit the accept waits for an exact count.
/// </summary>
public sealed partial class DescriptorReserve
{
    readonly TimeSpan _fresh;
    readonly Func<int> _countOpen;
    readonly object _lock = new();
    int _counted;
    long _accepted, _countedAccepts, _countsStarted, _recordedCount, _countedAt, _countCostMs;
    bool _counting;
    int _refusals;
    readonly SemaphoreSlim _messageFileSlots;

    /// <param name="messageFiles">How many sessions may write a message file at once (slots taken out of the reserve).</param>
    /// <param name="fresh">How long a count is reused (100 ms by default).</param>
    public DescriptorReserve(int limit, int reserve, int messageFiles, Func<int> countOpen, TimeSpan? fresh = null)
    {
        _fresh = fresh ?? TimeSpan.FromMilliseconds(100);
        Limit = limit;
        Reserve = reserve;
        MessageFiles = messageFiles;
        _messageFileSlots = new SemaphoreSlim(messageFiles, messageFiles);
        _countOpen = countOpen;
    }

    /// <summary>The soft RLIMIT_NOFILE of this process.</summary>
    public int Limit { get; }
    /// <summary>Descriptors kept free for work already accepted: queue, deliveries, relays, DNS, smtpctl, message files.</summary>
    public int Reserve { get; }
    /// <summary>Message files that sessions may have open at once, out of the reserve.</summary>
    public int MessageFiles { get; }

    /// <summary>How many times an accept was held back for lack of descriptors (for statistics and tests).</summary>
    public int Refusals => Volatile.Read(ref _refusals);

    /// <summary>
    /// For this process: a reserve of an eighth of the limit, at least 32 and at most 256
    /// (<c>SMTPD_FD_RESERVE</c> sets it; OpenSMTPD keeps a fixed reserve compiled in), a quarter
    /// of it (at least 4) for message files: at <c>ulimit -n 256</c> 32 of which 8, at 1024 128
    /// of which 32, from 2048 on 256 of which 64.
    /// </summary>
    /// <param name="reserve">SMTPD_FD_RESERVE (<see cref="SmtpdSettings.DescriptorReserve"/>), or null for the eighth.</param>
    public static DescriptorReserve ForThisProcess(int? reserve = null)
    {
        int limit = SoftLimit();
        reserve ??= Math.Clamp(limit / 8, 32, 256);
        return new DescriptorReserve(limit, reserve.Value, Math.Max(4, reserve.Value / 4), CountOpen);
    }

    /// <summary>Descriptors still free beyond the ones in use (an estimate between counts).</summary>
    public int Free
    {
        get
        {
            lock (_lock)
            {
                long now = Environment.TickCount64, age = now - _countedAt;
                bool near = Limit - Estimate < 2 * Reserve;
                bool due = _recordedCount == 0 || age >= 20 * _countCostMs && (age >= _fresh.TotalMilliseconds || near);
                if (due && (_recordedCount == 0 || near))
                    RecordCount(++_countsStarted, _accepted, _countOpen(), now);
                else if (due && !_counting)
                {
                    _counting = true;
                    _ = Task.Run(CountAside);
                }
                return Limit - Estimate;
            }
        }
    }

    /// <summary>The last count plus every accept since it began (those made while it ran may be in it too: never too few).</summary>
    int Estimate => _counted + (int)(_accepted - _countedAccepts);

    void CountAside()
    {
        long started = Environment.TickCount64, accepts, number;
        lock (_lock) { number = ++_countsStarted; accepts = _accepted; }
        int open = -1;
        try { open = _countOpen(); }
        finally
        {
            lock (_lock)
            {
                _counting = false;
                if (open >= 0) RecordCount(number, accepts, open, started);
            }
        }
    }

    /// <summary>Under the lock: keeps a count unless one begun after it was kept already.</summary>
    void RecordCount(long number, long acceptsAtStart, int open, long started)
    {
        if (number < _recordedCount) return;
        _recordedCount = number;
        _counted = open;
        _countedAccepts = acceptsAtStart;
        _countedAt = Environment.TickCount64;
        _countCostMs = _countedAt - started;
    }

    /// <summary>True while an accepted connection would leave the reserve intact.</summary>
    public bool HasRoom => Free > Reserve;

    /// <summary>
    /// A slot for one message file (a session's DATA), waited for at most <paramref name="wait"/>;
    /// null when none was freed in time. Disposing the slot gives it back.
    /// </summary>
    public async Task<IDisposable?> TakeMessageFileAsync(TimeSpan wait, CancellationToken ct)
    {
        if (!await _messageFileSlots.WaitAsync(wait, ct)) return null;
        return new MessageFileSlot(_messageFileSlots);
    }

    sealed class MessageFileSlot(SemaphoreSlim slots) : IDisposable
    {
        int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) slots.Release();
        }
    }

    /// <summary>An accept just used a descriptor.</summary>
    public void Accepted()
    {
        lock (_lock) _accepted++;
    }

    /// <summary>
    /// Returns when a connection may be accepted; until then waits, telling
    /// <paramref name="log"/> once per shortage.
    /// </summary>
    public async Task WaitForRoomAsync(string who, SmtpdLog log, CancellationToken ct)
    {
        if (HasRoom) return;
        Interlocked.Increment(ref _refusals);
        log.Warn($"{who}: only {Free} of {Limit} file descriptors free (reserve {Reserve}): not accepting connections until some are released");
        while (!HasRoom) await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
        log.Info($"info: {who}: file descriptors available again ({Free} free): accepting connections");
    }

    static int CountOpen()
    {
        try { return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count(); }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
    }

    [StructLayout(LayoutKind.Sequential)]
    struct RLimit { public ulong Current, Max; }

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit")]
    private static partial int SetRLimit(int resource, in RLimit limit);

    /// <summary>
    /// A mail server holds a descriptor per client: at start the soft limit is raised to the
    /// hard one, as far as the administrator allows (<c>ulimit -Hn</c>). Returns the soft limit.
    /// </summary>
    public static int RaiseSoftLimit()
    {
        if (GetRLimit(RLIMIT_NOFILE, out var l) == 0 && l.Current < l.Max)
            SetRLimit(RLIMIT_NOFILE, new RLimit { Current = l.Max, Max = l.Max });
        return SoftLimit();
    }

    const int RLIMIT_NOFILE = 7;

    static int SoftLimit() =>
        GetRLimit(RLIMIT_NOFILE, out var l) == 0 ? (int)Math.Min(l.Current, int.MaxValue) : 1024;
}
