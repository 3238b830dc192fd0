using System.Text;
using Smtpd.Queue;

namespace Smtpd.Tests.Queue;

public sealed class FsQueueTests : IDisposable
{
    readonly string _spool = Directory.CreateTempSubdirectory("fsqueue-").FullName;
    public void Dispose() => Directory.Delete(_spool, recursive: true);

    static Envelope Envelope(uint msgid, string rcpt) => new()
    {
        Id = QueueIds.NewEnvelopeId(msgid),
        Dispatcher = "local",
        Type = EnvelopeType.Mda,
        Sender = "a@example.org",
        Rcpt = rcpt,
        Dest = rcpt,
        CreationTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000),
        Ttl = 100,
    };

    async Task<(uint, List<Envelope>)> CreateMessage(FsQueue q, bool commit, params string[] rcpts)
    {
        uint msgid = await q.MessageCreateAsync();
        await using (var s = q.MessageWriteStream(msgid)) await s.WriteAsync(Encoding.ASCII.GetBytes("Subject: t\r\n\r\nhi\r\n"));
        var envelopes = rcpts.Select(r => Envelope(msgid, r)).ToList();
        foreach (var e in envelopes) await q.EnvelopeCreateAsync(e);
        if (commit) await q.MessageCommitAsync(msgid);
        return (msgid, envelopes);
    }

    [Fact]
    public async Task Committed_message_uses_the_seed_layout_and_is_walked()
    {
        var q = new FsQueue(_spool);
        q.Init();
        var (msgid, envelopes) = await CreateMessage(q, commit: true, "x@a.org", "y@a.org");
        string hex = QueueIds.Hex(msgid);
        string dir = Path.Combine(_spool, "queue", hex[..2], hex);
        Assert.True(File.Exists(Path.Combine(dir, "message")));
        foreach (var e in envelopes) Assert.True(File.Exists(Path.Combine(dir, QueueIds.Hex(e.Id))));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_spool, "incoming")));

        var walked = new List<Envelope>();
        await foreach (var e in q.EnvelopeWalk()) walked.Add(e);
        Assert.Equal(envelopes.Select(e => e.Id).Order(), walked.Select(e => e.Id).Order());
    }

    [Fact]
    public async Task Uncommitted_message_is_invisible_and_purged_at_init()
    {
        var q = new FsQueue(_spool);
        q.Init();
        await CreateMessage(q, commit: false, "x@a.org");
        var walked = new List<Envelope>();
        await foreach (var e in q.EnvelopeWalk()) walked.Add(e);
        Assert.Empty(walked);
        new FsQueue(_spool).Init();
        Assert.Empty(Directory.GetDirectories(Path.Combine(_spool, "incoming")));
    }

    [Fact]
    public async Task Deleting_the_last_envelope_deletes_the_message()
    {
        var q = new FsQueue(_spool);
        q.Init();
        var (msgid, envelopes) = await CreateMessage(q, commit: true, "x@a.org", "y@a.org");
        Assert.False(await q.EnvelopeDeleteAsync(envelopes[0].Id));
        Assert.True(File.Exists(q.MessagePath(msgid)));
        Assert.True(await q.EnvelopeDeleteAsync(envelopes[1].Id));
        Assert.False(Directory.Exists(Path.GetDirectoryName(q.MessagePath(msgid))));
    }

    static ulong InodeOf(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true })!;
        string output = stat.StandardOutput.ReadToEnd();
        Assert.True(stat.WaitForExit(10_000));
        return ulong.Parse(output.Trim());
    }

    [Fact]
    public async Task A_delivered_message_leaves_nothing_readable_once_kept_a_while_and_its_files_receive_the_next_one()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var q = new FsQueue(_spool, time: clock);
        q.Init();
        var (first, envelopes) = await CreateMessage(q, commit: true, "x@a.org", "y@a.org");
        ulong messageInode = InodeOf(q.MessagePath(first));
        await q.EnvelopeDeleteAsync(envelopes[0].Id);
        Assert.True(await q.EnvelopeDeleteAsync(envelopes[1].Id));
        Assert.False(Directory.Exists(Path.GetDirectoryName(q.MessagePath(first))));

        // Kept in purge/ and, once it has waited, emptied: no mail, no address left in the spool.
        string kept = Assert.Single(Directory.GetDirectories(Path.Combine(_spool, "purge")));
        Assert.Equal(["message", "spare"], Directory.GetFiles(kept).Select(Path.GetFileName).Order());
        clock.Advance(SpoolRecycler.EmptyAfter);
        Assert.All(Directory.GetFiles(kept), f => Assert.Equal(0, new FileInfo(f).Length));
        Assert.All(Directory.GetFiles(kept), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));

        // The next message is written into the same files, whole, and walked as any other.
        uint second = await q.MessageCreateAsync();
        const string text = "Subject: second\r\n\r\nanother body\r\n";
        await using (var w = q.MessageWriteStream(second)) await w.WriteAsync(Encoding.ASCII.GetBytes(text));
        var envelope = Envelope(second, "z@a.org");
        await q.EnvelopeCreateAsync(envelope);
        await q.MessageCommitAsync(second);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_spool, "purge")));
        Assert.Equal(messageInode, InodeOf(q.MessagePath(second)));
        Assert.Equal(text, File.ReadAllText(q.MessagePath(second)));
        var walked = new List<Envelope>();
        await foreach (var e in q.EnvelopeWalk()) walked.Add(e);
        Assert.Equal("z@a.org", Assert.Single(walked).Rcpt);
        Assert.Equal(new[] { "message", QueueIds.Hex(envelope.Id) }.Order(), Directory.GetFiles(Path.GetDirectoryName(q.MessagePath(second))!).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task Messages_delivered_after_the_spool_went_quiet_are_emptied_as_well()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var q = new FsQueue(_spool, time: clock);
        q.Init();
        string purge = Path.Combine(_spool, "purge");
        for (int round = 0; round < 3; round++)
        {
            var (msgid, envelopes) = await CreateMessage(q, commit: true, "x@a.org");
            Assert.True(await q.EnvelopeDeleteAsync(envelopes[0].Id));
            Assert.Contains(Directory.GetDirectories(purge), d => new FileInfo(Path.Combine(d, "message")).Length > 0);
            // Quiet for a while (the emptying has nothing left to do), then the wait of a kept directory.
            clock.Advance(SpoolRecycler.EmptyAfter * 3);
            Assert.All(Directory.GetDirectories(purge), d => Assert.All(Directory.GetFiles(d), f => Assert.Equal(0, new FileInfo(f).Length)));
        }
    }

    [Fact]
    public async Task A_bucket_removed_by_hand_is_made_again_at_the_next_commit_into_it()
    {
        var q = new FsQueue(_spool);
        q.Init();
        var used = new HashSet<string>();
        for (int i = 0; i < 20; i++)
        {
            var (msgid, _) = await CreateMessage(q, commit: true, "x@a.org");
            used.Add(QueueIds.Hex(msgid)[..2]);
        }
        // An admin empties the queue by hand, buckets and all, while smtpd runs.
        foreach (var bucket in Directory.GetDirectories(Path.Combine(_spool, "queue"))) Directory.Delete(bucket, recursive: true);

        // Messages until one falls in a bucket the queue had made before (20 of 256 buckets).
        for (int tries = 0; tries < 2000; tries++)
        {
            var (msgid, envelopes) = await CreateMessage(q, commit: true, "y@a.org");
            if (!used.Contains(QueueIds.Hex(msgid)[..2])) continue;
            Assert.Equal("Subject: t\r\n\r\nhi\r\n", File.ReadAllText(q.MessagePath(msgid)));
            var walked = new List<Envelope>();
            await foreach (var e in q.EnvelopeWalk()) walked.Add(e);
            Assert.Contains(walked, e => e.Id == envelopes[0].Id);
            return;
        }
        Assert.Fail("no message fell in a bucket made before");
    }

    [Fact]
    public async Task Files_taken_again_before_they_are_emptied_hold_only_the_next_message()
    {
        var q = new FsQueue(_spool, time: new Microsoft.Extensions.Time.Testing.FakeTimeProvider());
        q.Init();
        uint first = await q.MessageCreateAsync();
        await using (var w = q.MessageWriteStream(first)) await w.WriteAsync(Encoding.ASCII.GetBytes($"Subject: long\r\n\r\n{new string('x', 20_000)}\r\n"));
        var long_ = Envelope(first, $"{new string('r', 200)}@a.org");
        await q.EnvelopeCreateAsync(long_);
        await q.MessageCommitAsync(first);
        ulong messageInode = InodeOf(q.MessagePath(first));
        Assert.True(await q.EnvelopeDeleteAsync(long_.Id));

        // Shorter text into the longer files: nothing of the old one after it.
        uint second = await q.MessageCreateAsync();
        const string text = "Subject: short\r\n\r\nhi\r\n";
        await using (var w = q.MessageWriteStream(second)) await w.WriteAsync(Encoding.ASCII.GetBytes(text));
        var short_ = Envelope(second, "z@a.org");
        await q.EnvelopeCreateAsync(short_);
        await q.MessageCommitAsync(second);
        Assert.Equal(messageInode, InodeOf(q.MessagePath(second)));
        Assert.Equal(text, File.ReadAllText(q.MessagePath(second)));
        Assert.DoesNotContain("rrrr", File.ReadAllText(Path.Combine(Path.GetDirectoryName(q.MessagePath(second))!, QueueIds.Hex(short_.Id))));
        var walked = new List<Envelope>();
        await foreach (var e in q.EnvelopeWalk()) walked.Add(e);
        Assert.Equal("z@a.org", Assert.Single(walked).Rcpt);
    }

    [Fact]
    public async Task A_message_received_in_a_kept_directory_is_queued_only_by_its_commit()
    {
        var q = new FsQueue(_spool, time: new Microsoft.Extensions.Time.Testing.FakeTimeProvider());
        q.Init();
        string purge = Path.Combine(_spool, "purge"), incoming = Path.Combine(_spool, "incoming");
        var (first, envelopes) = await CreateMessage(q, commit: true, "x@a.org");
        Assert.True(await q.EnvelopeDeleteAsync(envelopes[0].Id));
        string kept = Assert.Single(Directory.GetDirectories(purge));

        // Received where it is kept (nothing passes through incoming/), invisible to the walk...
        var (second, pending) = await CreateMessage(q, commit: false, "y@a.org");
        Assert.Empty(Directory.GetDirectories(incoming));
        Assert.Equal("Subject: t\r\n\r\nhi\r\n", File.ReadAllText(Path.Combine(kept, "message")));
        Assert.True(File.Exists(Path.Combine(kept, QueueIds.Hex(pending[0].Id))));
        var walked = new List<Envelope>();
        await foreach (var e in q.EnvelopeWalk()) walked.Add(e);
        Assert.Empty(walked);

        // ...given up (RSET, a lost session): back among the kept ones, its envelope gone...
        await q.MessageDeleteAsync(second);
        Assert.Equal([kept], Directory.GetDirectories(purge));
        Assert.DoesNotContain(QueueIds.Hex(pending[0].Id), Directory.GetFiles(kept).Select(Path.GetFileName));

        // ...or committed: one rename into queue/.
        var (third, queued) = await CreateMessage(q, commit: true, "z@a.org");
        Assert.Empty(Directory.GetDirectories(purge));
        Assert.Empty(Directory.GetDirectories(incoming));
        Assert.Equal("Subject: t\r\n\r\nhi\r\n", File.ReadAllText(q.MessagePath(third)));
        await foreach (var e in q.EnvelopeWalk()) walked.Add(e);
        Assert.Equal(queued[0].Id, Assert.Single(walked).Id);

        // A crash during a reception in a kept directory leaves nothing at the next start.
        Assert.True(await q.EnvelopeDeleteAsync(queued[0].Id));
        await CreateMessage(q, commit: false, "w@a.org");
        Assert.NotEmpty(Directory.GetFileSystemEntries(Assert.Single(Directory.GetDirectories(purge))));
        var restarted = new FsQueue(_spool);
        restarted.Init();
        Assert.Empty(Directory.GetFileSystemEntries(purge));
        walked.Clear();
        await foreach (var e in restarted.EnvelopeWalk()) walked.Add(e);
        Assert.Empty(walked);
    }

    [Fact]
    public async Task Kept_directories_are_emptied_at_start()
    {
        var q = new FsQueue(_spool);
        q.Init();
        var (msgid, _) = await CreateMessage(q, commit: true, "x@a.org");
        await q.MessageDeleteAsync(msgid);
        Assert.NotEmpty(Directory.GetDirectories(Path.Combine(_spool, "purge")));
        new FsQueue(_spool).Init();
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_spool, "purge")));
    }

    [Fact]
    public async Task Corrupt_envelope_is_quarantined_and_the_rest_walked()
    {
        var q = new FsQueue(_spool);
        q.Init();
        // As OpenSMTPD's: corrupt/ is made when first needed, not at start.
        Assert.False(Directory.Exists(Path.Combine(_spool, "corrupt")));
        var (msgid, envelopes) = await CreateMessage(q, commit: true, "x@a.org", "y@a.org");
        string bad = Path.Combine(Path.GetDirectoryName(q.MessagePath(msgid))!, QueueIds.Hex(envelopes[0].Id));
        await File.WriteAllTextAsync(bad, "version: 3\ngarb");

        var corrupt = new List<string>();
        var walked = new List<Envelope>();
        await foreach (var e in q.EnvelopeWalk((f, _) => corrupt.Add(f))) walked.Add(e);
        Assert.Equal([envelopes[1].Id], walked.Select(e => e.Id));
        Assert.Single(corrupt);
        Assert.True(File.Exists(Path.Combine(_spool, "corrupt", QueueIds.Hex(envelopes[0].Id))));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_spool, "corrupt")));
    }

    [Fact]
    public async Task Update_replaces_the_envelope_atomically()
    {
        var q = new FsQueue(_spool);
        q.Init();
        var (_, envelopes) = await CreateMessage(q, commit: true, "x@a.org");
        await q.EnvelopeUpdateAsync(envelopes[0] with { Retry = 3, ErrorLine = "451 later" });
        var loaded = await q.EnvelopeLoadAsync(envelopes[0].Id);
        Assert.Equal(3, loaded!.Retry);
        Assert.Equal("451 later", loaded.ErrorLine);
    }

    [Fact]
    public async Task Walk_lists_each_envelope_once_while_others_come_and_go()
    {
        var q = new FsQueue(_spool);
        q.Init();
        var stable = new List<Envelope>();
        var doomed = new List<Envelope>();
        for (int i = 0; i < 100; i++) stable.AddRange((await CreateMessage(q, commit: true, $"s{i}@a.org")).Item2);
        for (int i = 0; i < 100; i++) doomed.AddRange((await CreateMessage(q, commit: true, $"d{i}@a.org")).Item2);

        var walked = new List<ulong>();
        int step = 0;
        await foreach (var e in q.EnvelopeWalk())
        {
            walked.Add(e.Id);
            // Churn while walking (seed 002's qwalk): new messages arrive, old envelopes leave.
            if (step < 100)
            {
                await CreateMessage(q, commit: true, $"n{step}@a.org");
                await q.EnvelopeDeleteAsync(doomed[step].Id);
            }
            step++;
        }
        Assert.Equal(walked.Count, walked.Distinct().Count());                    // never twice
        Assert.Empty(stable.Select(e => e.Id).Except(walked));                      // everything that stayed, seen
    }

    // What a delivery reads when the message file on disk is short: a file shorter than the
    // codec's 4-byte magic (read with pread, apart from the stream) is plain text, read whole.
    // (A gzip file cut short is refused: CompressedTruncationTests.)
    [Theory]
    [InlineData(new byte[0], "")]
    [InlineData(new byte[] { (byte)'h', (byte)'i' }, "hi")]
    [InlineData(new byte[] { (byte)'h', (byte)'i', (byte)'!', (byte)'\n', (byte)'x' }, "hi!\nx")]
    public async Task A_message_file_shorter_than_the_codec_magic_reads_whole_as_plain_text(byte[] onDisk, string plain)
    {
        var q = new FsQueue(_spool);
        q.Init();
        var (msgid, _) = await CreateMessage(q, commit: true, "x@a.org");
        string hex = QueueIds.Hex(msgid);
        File.WriteAllBytes(Path.Combine(_spool, "queue", hex[..2], hex, "message"), onDisk);
        using var stream = q.MessageReadStream(msgid);
        var read = new MemoryStream();
        stream.CopyTo(read);
        Assert.Equal(plain, Encoding.ASCII.GetString(read.ToArray()));
    }
}
