using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Smtpd;

/// <summary>
/// Group commit for one filesystem: callers that have written their files (and made their
/// creates and renames) await <see cref="FlushAsync"/>; one flush, begun after their call, makes
/// all of it durable and completes every waiter at once. A flush that fails fails every waiter
/// of it, so nobody is told "stored" for data that may not be (the caller answers 4xx).
/// The flush runs on a thread of its own, so blocking fsyncs never hold a thread-pool thread.
/// Nothing waits for company: a lone caller's flush starts at once; batching comes from the
/// callers that arrive while a flush runs, and they all share the next one.
/// One instance per filesystem per process (<see cref="For"/>); safe from any thread.
/// The flush is syncfs(2): one call for the whole batch (fsync of each file from one thread was
/// slower here: each fsync allocates its delayed blocks and waits for a journal commit of its own).
/// Linux reports a writeback error to syncfs(2) since 5.8.
/// </summary>
public sealed partial class GroupSync
{
    sealed class Batch
    {
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Waiters;
    }

    // Keyed by st_dev: an instance's open descriptor keeps its filesystem mounted (umount says
    // EBUSY), so a device number cannot come to mean another filesystem while the instance lives.
    static readonly ConcurrentDictionary<ulong, GroupSync> ByDevice = new();

    readonly Action _flush;
    readonly SafeFileHandle? _fsHandle;
    readonly object _gate = new();
    Batch _next = new();
    long _flushes;
    bool _retired;

    /// <summary>The instance of this process for the filesystem holding <paramref name="path"/> (a file or a directory that exists).</summary>
    public static GroupSync For(string path)
    {
        ulong device = DeviceOf(path);
        if (ByDevice.TryGetValue(device, out var sync)) return sync;
        string dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        var made = new GroupSync(dir, $"sync-{device:x}");
        var kept = ByDevice.GetOrAdd(device, made);
        if (!ReferenceEquals(kept, made)) made.Retire();
        return kept;
    }

    /// <param name="directory">any directory of the filesystem: syncfs(2) is called on its descriptor.</param>
    public GroupSync(string directory, string threadName = "group-sync")
    {
        var fs = _fsHandle = DirectorySync.Open(directory);
        _flush = () => Check(SyncFs(fs), "syncfs", directory);
        Start(threadName);
    }

    /// <summary>For tests: a flush that does what it is told (count, fail, block).</summary>
    internal GroupSync(Action flush, string threadName = "group-sync-test")
    {
        _flush = flush;
        Start(threadName);
    }

    // The thread may inherit a delivery's file identity (setfsuid is per thread): syncfs(2) on an
    // open descriptor needs none, and the thread does nothing else.
    void Start(string threadName) => new Thread(Run) { IsBackground = true, Name = threadName }.Start();

    /// <summary>How many flushes ran (for tests and figures).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>
    /// Completes once a flush begun after this call has made durable everything the caller wrote,
    /// created or renamed on this filesystem before calling; faults with an <see cref="IOException"/>
    /// if that flush failed.
    /// </summary>
    public Task FlushAsync()
    {
        lock (_gate)
        {
            _next.Waiters++;
            Monitor.Pulse(_gate);
            return _next.Done.Task;
        }
    }

    void Run()
    {
        while (true)
        {
            Batch batch;
            lock (_gate)
            {
                while (_next.Waiters == 0 && !_retired) Monitor.Wait(_gate);
                if (_retired) return;
                batch = _next;
                _next = new Batch();
            }
            try
            {
                _flush();
                Interlocked.Increment(ref _flushes);
                batch.Done.SetResult();
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _flushes);
                batch.Done.SetException(ex as IOException ?? new IOException(ex.Message, ex));
            }
        }
    }

    /// <summary>Ends the thread of an instance that lost the race to be the filesystem's one.</summary>
    void Retire()
    {
        lock (_gate)
        {
            _retired = true;
            Monitor.Pulse(_gate);
        }
        _fsHandle?.Dispose();
    }

    static void Check(int rc, string call, string what)
    {
        if (rc != 0) throw new IOException($"{call} {what}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    static ulong DeviceOf(string path)
    {
        if (StatPath(path, out var st) != 0)
            throw new IOException($"stat {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return st.Device;
    }

    /// <summary>struct stat: st_dev is its first field (8 bytes) on x86_64 and arm64 glibc; the rest is room.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    struct StatBuffer
    {
        public ulong Device;
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int StatPath(string path, out StatBuffer buffer);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(SafeFileHandle fd);
}
