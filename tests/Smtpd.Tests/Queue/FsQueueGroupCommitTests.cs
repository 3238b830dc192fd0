using System.Text;
using Smtpd.Queue;

namespace Smtpd.Tests.Queue;

/// <summary>
/// FsQueue's commit through the group commit: the rename into queue/ waits for a flush of what was
/// written, the commit returns only after a second flush, and a failed flush fails the commit
/// (the session answers 4xx) with nothing half-committed in queue/.
/// </summary>
public sealed class FsQueueGroupCommitTests : IDisposable
{
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    readonly string _spool = Directory.CreateTempSubdirectory("fsqueue-gc-").FullName;
    public void Dispose() => Directory.Delete(_spool, recursive: true);

    /// <summary>Each flush waits for one release and then succeeds or throws as told.</summary>
    sealed class Flushes
    {
        public readonly SemaphoreSlim Started = new(0), Release = new(0);
        public volatile string? FailWith;

        public void Run()
        {
            Started.Release();
            if (!Release.Wait(Bound)) throw new TimeoutException("flush never released");
            if (FailWith is string error) throw new IOException(error);
        }
    }

    async Task<uint> WriteMessageAsync(FsQueue q)
    {
        uint msgid = await q.MessageCreateAsync();
        await using (var s = q.MessageWriteStream(msgid)) await s.WriteAsync(Encoding.ASCII.GetBytes("Subject: t\r\n\r\nhi\r\n"));
        await q.EnvelopeCreateAsync(new Envelope
        {
            Id = QueueIds.NewEnvelopeId(msgid), Dispatcher = "local", Type = EnvelopeType.Mda,
            Sender = "a@example.org", Rcpt = "b@example.org", Dest = "b@example.org",
            CreationTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), Ttl = 100,
        });
        return msgid;
    }

    string QueueDir(uint msgid) => Path.Combine(_spool, "queue", QueueIds.Hex(msgid)[..2], QueueIds.Hex(msgid));

    async Task<int> WalkCountAsync(FsQueue q)
    {
        int n = 0;
        await foreach (var _ in q.EnvelopeWalk()) n++;
        return n;
    }

    [Fact]
    public async Task The_rename_into_the_queue_waits_for_the_first_flush_and_the_commit_for_the_second()
    {
        var flushes = new Flushes();
        var q = new FsQueue(_spool, null, new GroupSync(flushes.Run));
        q.Init();
        uint msgid = await WriteMessageAsync(q);

        var commit = q.MessageCommitAsync(msgid);
        Assert.True(await flushes.Started.WaitAsync(Bound));
        Assert.False(Directory.Exists(QueueDir(msgid)));        // not in queue/ before its files are durable
        flushes.Release.Release();

        Assert.True(await flushes.Started.WaitAsync(Bound));    // the second flush: the rename's
        Assert.True(Directory.Exists(QueueDir(msgid)));
        Assert.False(commit.IsCompleted);                       // no "stored" before the rename is durable
        flushes.Release.Release();
        await commit.WaitAsync(Bound);
        Assert.Equal(1, await WalkCountAsync(q));
    }

    [Fact]
    public async Task A_failed_flush_fails_the_commit_and_leaves_nothing_in_the_queue()
    {
        var flushes = new Flushes { FailWith = "syncfs: Input/output error" };
        var q = new FsQueue(_spool, null, new GroupSync(flushes.Run));
        q.Init();
        uint msgid = await WriteMessageAsync(q);

        var commit = q.MessageCommitAsync(msgid);
        flushes.Release.Release();
        var error = await Assert.ThrowsAsync<IOException>(() => commit.WaitAsync(Bound));
        Assert.Contains("Input/output error", error.Message);
        Assert.False(Directory.Exists(QueueDir(msgid)));
        Assert.Equal(0, await WalkCountAsync(q));

        // The session's rollback, then a start: nothing of it remains anywhere.
        await q.MessageDeleteAsync(msgid);
        q.Init();
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_spool, "incoming")));
    }

    [Fact]
    public async Task Concurrent_commits_share_flushes_on_the_real_filesystem()
    {
        var sync = new GroupSync(_spool);
        var q = new FsQueue(_spool, null, sync);
        q.Init();
        var ids = new List<uint>();
        for (int i = 0; i < 20; i++) ids.Add(await WriteMessageAsync(q));

        await Task.WhenAll(ids.Select(id => Task.Run(() => q.MessageCommitAsync(id)))).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(20, await WalkCountAsync(q));
        // Two flushes per commit without sharing; twenty commits at once share most of them.
        Assert.InRange(sync.Flushes, 2, 39);
    }
}
