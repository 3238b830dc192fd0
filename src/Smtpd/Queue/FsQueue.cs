using System.Runtime.CompilerServices;
using System.Text;

namespace Smtpd.Queue;

/// <summary>
/// The default queue backend (OpenSMTPD's queue_fs): a message and its envelopes live in
/// <c>queue/XX/MSGID/</c> (XX = the first two hex digits of the message id), one file
/// <c>message</c> and one readable file per envelope named by its id. A message is received into
/// a directory of its own outside <c>queue/</c> (<c>incoming/MSGID/</c>, or a kept one in
/// <c>purge/</c>: <see cref="SpoolRecycler"/>) and committed by one rename, so a crash leaves
/// either the whole message in <c>queue/</c> or nothing (incoming/ and purge/ are emptied at start). Durability comes from the
/// filesystem's <see cref="GroupSync"/>: commits of concurrent sessions share its flushes. Every file is 0600 and every
/// directory 0700 (<see cref="SpoolModes"/>): mail is nobody else's to read.
/// </summary>
public sealed class FsQueue : IQueueBackend
{
    const string MessageFile = "message";
    /// <summary>Read buffer of a spooled message: its readers take it in chunks of this size or more,
    /// which pass the buffer by (it is then never even allocated).</summary>
    public const int MessageReadBuffer = 16 * 1024;
    readonly string _queue, _incoming, _corrupt;
    readonly QueueCodec _codec;

    readonly TimeProvider _time;
    readonly SpoolRecycler _recycler;
    /// <summary>The directory of each message being received, until its commit (not in queue/).</summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<uint, string> _receiving = new();
    /// <summary>queue/XX directories known to exist (we never remove one): no mkdir per message.</summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _buckets = new();

    /// <param name="codec"><c>queue compress</c> / <c>queue encrypt</c>: applied to every file written, undone on read.</param>
    /// <param name="time">The daemon's clock (it names a second corrupt copy of the same file).</param>
    public FsQueue(string spool, QueueCodec? codec = null, TimeProvider? time = null)
    {
        Spool = spool;
        _time = time ?? TimeProvider.System;
        _codec = codec ?? QueueCodec.None;
        _queue = Path.Combine(spool, "queue");
        _incoming = Path.Combine(spool, "incoming");
        _corrupt = Path.Combine(spool, "corrupt");
        _recycler = new SpoolRecycler(Path.Combine(spool, "purge"), _time);
    }

    /// <summary>For tests: commits through <paramref name="sync"/> instead of the filesystem's own.</summary>
    internal FsQueue(string spool, QueueCodec? codec, GroupSync sync) : this(spool, codec) => _sync = sync;

    public string Spool { get; }

    /// <summary>The spool's filesystem's group commit: every fsync of the queue goes through it.</summary>
    GroupSync Sync => _sync ??= GroupSync.For(_queue);
    GroupSync? _sync;

    /// <summary>Creates the spool layout and discards any message whose reception never finished.</summary>
    public void Init()
    {
        if (!Directory.Exists(Spool)) Directory.CreateDirectory(Spool, SpoolModes.Root);
        foreach (var dir in new[] { _queue, _incoming, Path.Combine(Spool, "purge"), Path.Combine(Spool, "temporary") })
        {
            SpoolModes.EnsureDirectory(dir);
            SpoolModes.Tighten(dir);
        }
        // corrupt/ is made when first needed, as OpenSMTPD's; one left from before is kept as private.
        if (Directory.Exists(_corrupt))
        {
            SpoolModes.EnsureDirectory(_corrupt);
            SpoolModes.Tighten(_corrupt);
        }
        // The lock, the key check and the statistics sit beside the queue and are as private.
        foreach (var file in new DirectoryInfo(Spool).EnumerateFiles())
            if (file.LinkTarget is null && file.UnixFileMode != SpoolModes.File) file.UnixFileMode = SpoolModes.File;
        string offline = Path.Combine(Spool, "offline");
        if (!Directory.Exists(offline)) Directory.CreateDirectory(offline, SpoolModes.OfflineDirectory);
        foreach (var stale in Directory.EnumerateDirectories(_incoming))
            Directory.Delete(stale, recursive: true);
        _recycler.Init();
    }

    /// <summary>Where a message being received lives (see MessageCreateAsync).</summary>
    string ReceivingDir(uint msgid) =>
        _receiving.TryGetValue(msgid, out var dir) ? dir : throw new IOException($"message {QueueIds.Hex(msgid)} is not being received");
    string BucketDir(uint msgid) => Path.Combine(_queue, QueueIds.Hex(msgid)[..2]);
    string QueueDir(uint msgid) => Path.Combine(BucketDir(msgid), QueueIds.Hex(msgid));

    /// <summary>An envelope lives with its message while it is received, then in queue/.</summary>
    string EnvelopeDir(uint msgid, out bool receiving)
    {
        receiving = _receiving.TryGetValue(msgid, out var dir);
        return receiving ? dir! : QueueDir(msgid);
    }

    public Task<uint> MessageCreateAsync(CancellationToken ct = default)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            uint msgid = QueueIds.NewMessageId();
            if (Directory.Exists(QueueDir(msgid))) continue;
            // The id is ours once it is in the map: no other session can take it meanwhile.
            string fresh = Path.Combine(_incoming, QueueIds.Hex(msgid));
            if (!_receiving.TryAdd(msgid, fresh)) continue;
            if (_recycler.TryTake() is { } kept) _receiving[msgid] = kept;
            else
            {
                try { Directory.CreateDirectory(fresh, SpoolModes.Directory); }
                catch { _receiving.TryRemove(msgid, out _); throw; }
            }
            return Task.FromResult(msgid);
        }
        throw new IOException("could not allocate a message id");
    }

    /// <summary>
    /// Whether a message of <paramref name="declaredSize"/> fits (<see cref="SpoolSpace"/>). Short of
    /// space, the kept directories of delivered messages give theirs back first: their files keep
    /// the old text for a while (<see cref="SpoolRecycler"/>), which a full disk cannot wait for.
    /// </summary>
    public bool HasRoom(long declaredSize, long minFree)
    {
        if (SpoolSpace.HasRoom(Spool, declaredSize, minFree)) return true;
        return _recycler.EmptyKept(TimeSpan.Zero) > 0 && SpoolSpace.HasRoom(Spool, declaredSize, minFree);
    }

    /// <summary>The message file: new, or the one of a recycled directory (purge/), written over (RewrittenFile).</summary>
    public Stream MessageWriteStream(uint msgid) =>
        _codec.WrapWrite(new RewrittenFile(Path.Combine(ReceivingDir(msgid), MessageFile), FileOptions.Asynchronous));

    public async Task MessageCommitAsync(uint msgid, CancellationToken ct = default)
    {
        string bucket = BucketDir(msgid);
        // A new bucket must be durable in queue/ before a message can live in it: the first flush covers it.
        if (!_buckets.ContainsKey(bucket))
        {
            Directory.CreateDirectory(bucket, SpoolModes.Directory);
            _buckets.TryAdd(bucket, true);
        }
        // The message, its envelopes and their names durable where they are received before the rename...
        await Sync.FlushAsync();
        string receiving = ReceivingDir(msgid);
        if (!FileRename.TryRename(receiving, QueueDir(msgid)))
        {
            // The bucket was removed behind our back (by hand): made again, durable, then the rename.
            _buckets.TryRemove(bucket, out _);
            Directory.CreateDirectory(bucket, SpoolModes.Directory);
            await Sync.FlushAsync();
            FileRename.Rename(receiving, QueueDir(msgid));
        }
        _receiving.TryRemove(msgid, out _);
        // ...and the rename durable before anyone hears "stored"; a stale incoming/ or purge/ entry would be removed at start.
        await Sync.FlushAsync();
    }

    public Task MessageDeleteAsync(uint msgid)
    {
        if (_receiving.TryRemove(msgid, out var receiving) && Directory.Exists(receiving)) _recycler.Recycle(receiving);
        if (Directory.Exists(QueueDir(msgid))) _recycler.Recycle(QueueDir(msgid));
        return Task.CompletedTask;
    }

    public Stream MessageReadStream(uint msgid)
    {
        var handle = File.OpenHandle(MessagePath(msgid), FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        // The codec's magic read at offset 0 (pread): the stream's position and buffer stay untouched.
        Span<byte> prefix = stackalloc byte[4];
        int n;
        try { n = RandomAccess.Read(handle, prefix, 0); }
        catch { handle.Dispose(); throw; }
        var file = new FileStream(handle, FileAccess.Read, MessageReadBuffer);
        try { return new GuardedReadStream(_codec.WrapRead(file, prefix[..n]), msgid); }
        catch (InvalidDataException ex)
        {
            file.Dispose();
            throw new CorruptMessageException(msgid, ex.Message, ex);
        }
    }

    /// <summary>Moves a message that cannot be read, with its envelopes, to <c>corrupt/</c> for the admin.</summary>
    public Task MessageCorruptAsync(uint msgid)
    {
        string dir = QueueDir(msgid);
        if (Directory.Exists(dir))
        {
            SpoolModes.EnsureDirectory(_corrupt);
            string target = Path.Combine(_corrupt, QueueIds.Hex(msgid));
            if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
            Directory.Move(dir, target);
        }
        return Task.CompletedTask;
    }

    internal string MessagePath(uint msgid) => Path.Combine(QueueDir(msgid), MessageFile);

    public async Task EnvelopeCreateAsync(Envelope envelope, CancellationToken ct = default)
    {
        string dir = EnvelopeDir(envelope.MessageId, out bool receiving);
        string path = Path.Combine(dir, QueueIds.Hex(envelope.Id));
        // A new envelope's file: the spare one of a recycled directory when there is one (no inode
        // made), while the message is still being received (see TakeSpare).
        if (receiving && SpoolRecycler.TakeSpare(path)) await RewriteFileAsync(path, EnvelopeText.Format(envelope), ct);
        else await WriteAsync(path, EnvelopeText.Format(envelope), ct);
        // While received, the commit's flush makes it durable with the message; a committed message's is flushed now.
        if (!receiving) await Sync.FlushAsync();
    }

    public async Task EnvelopeUpdateAsync(Envelope envelope, CancellationToken ct = default)
    {
        string dir = EnvelopeDir(envelope.MessageId, out _);
        string path = Path.Combine(dir, QueueIds.Hex(envelope.Id));
        string tmp = path + ".tmp";
        await WriteAsync(tmp, EnvelopeText.Format(envelope), ct);
        // The new text durable before it replaces the old one: a crash leaves one or the other, whole.
        await Sync.FlushAsync();
        File.Move(tmp, path, overwrite: true);
    }

    public Task<bool> EnvelopeDeleteAsync(ulong evpid)
    {
        uint msgid = QueueIds.MessageOf(evpid);
        string dir = QueueDir(msgid);
        string path = Path.Combine(dir, QueueIds.Hex(evpid));
        SpoolRecycler.RetireEnvelope(path);
        string[] files;
        try { files = Directory.GetFiles(dir); }
        catch (DirectoryNotFoundException) { return Task.FromResult(true); }
        if (files.Any(f => QueueIds.TryParseEnvelope(Path.GetFileName(f), out _))) return Task.FromResult(false);
        _recycler.Recycle(dir, files);
        return Task.FromResult(true);
    }

    public async Task<Envelope?> EnvelopeLoadAsync(ulong evpid)
    {
        string path = Path.Combine(QueueDir(QueueIds.MessageOf(evpid)), QueueIds.Hex(evpid));
        if (!File.Exists(path)) return null;
        return EnvelopeText.Parse(evpid, Encoding.UTF8.GetString(_codec.Decode(await File.ReadAllBytesAsync(path))));
    }

    public async IAsyncEnumerable<Envelope> EnvelopeWalk(Action<string, Exception>? corrupt = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        // Snapshot the directory names first: envelopes added or removed during the walk are
        // then neither missed twice nor listed twice (seed 002, qwalk).
        foreach (var bucket in Directory.GetDirectories(_queue).Order(StringComparer.Ordinal))
        foreach (var msgdir in Directory.GetDirectories(bucket).Order(StringComparer.Ordinal))
        {
            if (!QueueIds.TryParseMessage(Path.GetFileName(msgdir), out _)) continue;
            bool hasMessage = File.Exists(Path.Combine(msgdir, MessageFile));
            string[] files;
            try { files = Directory.GetFiles(msgdir); }
            catch (DirectoryNotFoundException) { continue; } // delivered and removed since the snapshot
            foreach (var file in files.Order(StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                if (!QueueIds.TryParseEnvelope(Path.GetFileName(file), out ulong evpid)) continue;
                Envelope? envelope = null;
                try
                {
                    if (!hasMessage) throw new FormatException("message file missing");
                    envelope = EnvelopeText.Parse(evpid, Encoding.UTF8.GetString(_codec.Decode(await File.ReadAllBytesAsync(file, ct))));
                    if (envelope.MessageId != QueueIds.MessageOf(evpid)) throw new FormatException("envelope in wrong message");
                }
                catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException) { } // removed meanwhile
                catch (Exception ex) when (ex is FormatException or IOException or DecoderFallbackException)
                {
                    // Removed while we read it (a delivery finished) is not corruption.
                    if (!File.Exists(file)) continue;
                    Quarantine(file);
                    corrupt?.Invoke(file, ex);
                }
                if (envelope is not null) yield return envelope;
            }
        }
    }

    public Task EnvelopeCorruptAsync(ulong evpid)
    {
        string path = Path.Combine(QueueDir(QueueIds.MessageOf(evpid)), QueueIds.Hex(evpid));
        if (File.Exists(path)) Quarantine(path);
        return Task.CompletedTask;
    }

    /// <summary>Moves an unreadable envelope to corrupt/ so that the rest of the queue goes on.</summary>
    void Quarantine(string file)
    {
        SpoolModes.EnsureDirectory(_corrupt);
        string target = Path.Combine(_corrupt, Path.GetFileName(file));
        if (File.Exists(target)) target += "." + _time.GetUtcNow().UtcTicks;
        File.Move(file, target);
    }

    Task WriteAsync(string path, string text, CancellationToken ct)
    {
        // A file left by a crash (an envelope's .tmp) may predate the modes: start afresh at 0600.
        File.Delete(path);
        return WriteFileAsync(path, FileMode.CreateNew, text, ct);
    }

    async Task RewriteFileAsync(string path, string text, CancellationToken ct)
    {
        await using var fs = new RewrittenFile(path, FileOptions.Asynchronous);
        await fs.WriteAsync(_codec.Encode(Encoding.UTF8.GetBytes(text)), ct);
    }

    async Task WriteFileAsync(string path, FileMode mode, string text, CancellationToken ct)
    {
        // One write of the whole text: no FileStream buffer (a 4 KiB array per envelope file).
        await using var fs = new FileStream(path, SpoolModes.NewFile(mode, FileOptions.Asynchronous, bufferSize: 0));
        await fs.WriteAsync(_codec.Encode(Encoding.UTF8.GetBytes(text)), ct);
    }
}
