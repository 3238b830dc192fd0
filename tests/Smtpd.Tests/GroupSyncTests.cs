namespace Smtpd.Tests;

/// <summary>
/// The group commit primitive: callers share flushes, each is answered only after a flush that
/// began after its call, and a failed flush fails every caller of it.
/// </summary>
public sealed class GroupSyncTests
{
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>A flush that blocks until released, one release per flush, and can be told to fail.</summary>
    sealed class GatedFlush
    {
        public readonly SemaphoreSlim Started = new(0), Release = new(0);
        public volatile bool Fail;
        public volatile bool OnPoolThread;
        public int Calls;

        public void Run()
        {
            Interlocked.Increment(ref Calls);
            if (Thread.CurrentThread.IsThreadPoolThread) OnPoolThread = true;
            Started.Release();
            if (!Release.Wait(Bound)) throw new TimeoutException("flush never released");
            if (Fail) throw new IOException("injected: EIO");
        }
    }

    [Fact]
    public async Task Callers_arriving_during_a_flush_share_the_next_one_and_none_is_answered_by_the_flush_already_running()
    {
        var gate = new GatedFlush();
        var sync = new GroupSync(gate.Run);

        var first = sync.FlushAsync();
        Assert.True(await gate.Started.WaitAsync(Bound));   // flush 1 runs, covering only the first caller
        var later = Enumerable.Range(0, 10).Select(_ => sync.FlushAsync()).ToArray();

        gate.Release.Release();                             // flush 1 ends
        await first.WaitAsync(Bound);
        Assert.True(await gate.Started.WaitAsync(Bound));   // flush 2 runs for the ten
        Assert.All(later, t => Assert.False(t.IsCompleted)); // their writes came after flush 1 began

        gate.Release.Release();
        await Task.WhenAll(later).WaitAsync(Bound);
        Assert.Equal(2, gate.Calls);
        Assert.Equal(2, sync.Flushes);
        Assert.False(gate.OnPoolThread);                    // blocking flushes never hold a pool thread
    }

    [Fact]
    public async Task A_failed_flush_fails_every_caller_of_it_and_the_next_flush_works_again()
    {
        var gate = new GatedFlush();
        var sync = new GroupSync(gate.Run);

        var first = sync.FlushAsync();
        Assert.True(await gate.Started.WaitAsync(Bound));
        var failing = Enumerable.Range(0, 5).Select(_ => sync.FlushAsync()).ToArray();
        gate.Release.Release();
        await first.WaitAsync(Bound);

        Assert.True(await gate.Started.WaitAsync(Bound));
        gate.Fail = true;
        gate.Release.Release();
        foreach (var t in failing)
            Assert.Contains("EIO", (await Assert.ThrowsAsync<IOException>(() => t.WaitAsync(Bound))).Message);

        gate.Fail = false;
        var after = sync.FlushAsync();
        Assert.True(await gate.Started.WaitAsync(Bound));
        gate.Release.Release();
        await after.WaitAsync(Bound);
        Assert.Equal(3, sync.Flushes);
    }

    [Fact]
    public async Task Nobody_waiting_means_no_flush_and_a_lone_caller_is_flushed_at_once()
    {
        int flushes = 0;
        var sync = new GroupSync(() => Interlocked.Increment(ref flushes));
        await Task.Delay(200);
        Assert.Equal(0, flushes);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await sync.FlushAsync().WaitAsync(Bound);
        Assert.Equal(1, flushes);
        // No timer gathers company for a lone caller (a 1 s bound leaves room for a loaded machine).
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"lone flush took {watch.Elapsed}");
    }

    [Fact]
    public async Task One_instance_per_filesystem_and_its_syncfs_makes_what_was_written_durable()
    {
        string a = Directory.CreateTempSubdirectory("groupsync-").FullName;
        string b = Directory.CreateTempSubdirectory("groupsync-").FullName;
        try
        {
            var sync = GroupSync.For(a);
            Assert.Same(sync, GroupSync.For(b));
            Assert.Same(sync, GroupSync.For(Path.Combine(a, ".")));

            long before = sync.Flushes;
            await File.WriteAllTextAsync(Path.Combine(a, "f"), "x");
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => sync.FlushAsync())).WaitAsync(Bound);
            Assert.InRange(sync.Flushes - before, 1, 8);
        }
        finally
        {
            Directory.Delete(a, true);
            Directory.Delete(b, true);
        }
    }

    [Fact]
    public void A_path_that_does_not_exist_is_an_io_error()
    {
        Assert.Throws<IOException>(() => GroupSync.For("/nonexistent/groupsync/path"));
    }
}
