namespace Smtpd.Queue;

/// <summary>
/// <c>purge/</c>: the directories of removed messages, kept to receive new ones.
/// Creating and deleting inodes is what a busy queue costs the filesystem most: ext4 without a
/// journal scans past every inode freed in the last minutes to allocate one (perf: 30 % of the
/// daemon's CPU under load was <c>__ext4_new_inode</c>, most of it <c>recently_deleted</c>), and a
/// journal records every allocation and free. A message took three inodes (its directory, its
/// message file, one envelope file) and gave them back once delivered; kept here, the next message
/// is received in one where it stands and rewrites its files in place (<see cref="RewrittenFile"/>),
/// and its commit renames it into <c>queue/</c>: a message costs two renames of its directory
/// (the commit, and back here once delivered), not three through <c>incoming/</c>. Cross-directory
/// renames are serialized filesystem-wide (the kernel's rename lock) and were a fifth of the
/// daemon's CPU under a 20-session load (perf), most of it waiting for that lock and looking up names.
/// <para>
/// The files keep their old text while the directory waits, and are emptied once it has waited
/// <see cref="EmptyAfter"/> without being taken (a timer looks every <see cref="EmptyAfter"/>, so
/// at most twice that), so delivered mail does not linger in the spool
/// (at once when the spool is short of space: <see cref="FsQueue.HasRoom"/>).
/// Under load a directory is taken again within milliseconds: emptying each one as its message
/// went (freeing its blocks, then allocating them again for the next message) was a tenth of the
/// daemon's CPU in ext4's truncate and block allocation.
/// </para>
/// <para>
/// Up to 1024 directories are kept (a directory and two files each): a burst that backs the queue
/// up by hundreds of messages returns them all for the next one, where 64 made most of them new
/// inodes again, and deleting the rest freed inodes that ext4 without a journal then scans past
/// for minutes whenever it allocates one (a Maildir's new files included). At start
/// <c>purge/</c> is emptied (nothing in it is mail).
/// </para>
/// </summary>
/// <param name="capacity">Directories kept at most; more are deleted as before.</param>
internal sealed class SpoolRecycler(string purge, TimeProvider time, int capacity = 1024)
{
    /// <summary>The name, in a message's directory, of an envelope file kept for the next envelope.</summary>
    public const string SpareEnvelope = "spare";
    const string MessageFile = "message";

    /// <summary>How long a kept directory's files may keep the text of a delivered message.</summary>
    public static readonly TimeSpan EmptyAfter = TimeSpan.FromSeconds(10);

    /// <summary>A kept directory: its path, when it was kept, and whether its files are empty.</summary>
    record struct Kept(string Dir, long KeptAt, bool Empty);

    readonly Lock _lock = new();
    // Used as a stack (the end is the top): the directory kept last is taken first, and the ones
    // at the bottom wait long enough to be emptied.
    readonly List<Kept> _free = [];
    long _names;
    ITimer? _emptying;

    public void Init()
    {
        foreach (var stale in Directory.EnumerateFileSystemEntries(purge))
        {
            if (Directory.Exists(stale)) Directory.Delete(stale, recursive: true);
            else File.Delete(stale);
        }
    }

    /// <summary>
    /// A kept directory, for a new message to be received in where it stands (no rename: its
    /// commit moves it into <c>queue/</c>); null when none is kept. Its files may hold an old
    /// message's text: they are rewritten whole (<see cref="RewrittenFile"/>, <see cref="TakeSpare"/>).
    /// </summary>
    public string? TryTake()
    {
        lock (_lock)
        {
            if (_free.Count == 0) return null;
            string dir = _free[^1].Dir;
            _free.RemoveAt(_free.Count - 1);
            return dir;
        }
    }

    /// <summary>
    /// A removed message's directory: its message file and one envelope file kept, the rest
    /// deleted, the directory moved to <c>purge/</c>; deleted outright when enough are kept.
    /// </summary>
    /// <param name="files">The directory's files, when the caller has just listed them.</param>
    public void Recycle(string dir, string[]? files = null)
    {
        string? name = null;
        lock (_lock)
            if (_free.Count < capacity) name = Path.Combine(purge, (++_names).ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (name is null)
        {
            Directory.Delete(dir, recursive: true);
            return;
        }
        // Listed before anything is renamed: a listing taken while names change may miss some.
        files ??= Directory.GetFiles(dir);
        bool spare = files.Any(f => Path.GetFileName(f) == SpareEnvelope);
        foreach (var file in files)
        {
            string leaf = Path.GetFileName(file);
            if (leaf is MessageFile or SpareEnvelope) continue;
            if (!spare && QueueIds.TryParseEnvelope(leaf, out _))
            {
                FileRename.Rename(file, Path.Combine(dir, SpareEnvelope));
                spare = true;
            }
            else File.Delete(file);
        }
        // A message given up while it was received in a kept directory is already here.
        if (Path.GetDirectoryName(dir) == purge) name = dir;
        else FileRename.Rename(dir, name);
        lock (_lock)
        {
            _free.Add(new Kept(name, time.GetTimestamp(), Empty: false));
            _emptying ??= time.CreateTimer(_ => EmptyKept(EmptyAfter), null, EmptyAfter, EmptyAfter);
        }
    }

    /// <summary>
    /// Empties the files of the kept directories that have waited <paramref name="waited"/> (all
    /// of them with zero, when the spool is short of space): taken out of the stack meanwhile, put
    /// back at its bottom (they are the coldest). Returns how many were emptied.
    /// </summary>
    public int EmptyKept(TimeSpan waited)
    {
        long now = time.GetTimestamp();
        bool Due(Kept k) => !k.Empty && time.GetElapsedTime(k.KeptAt, now) >= waited;
        List<Kept> due;
        lock (_lock)
        {
            due = _free.FindAll(Due);
            if (due.Count == 0)
            {
                StopTimerIfDone();
                return 0;
            }
            _free.RemoveAll(Due);
        }
        var emptied = new List<Kept>(due.Count);
        foreach (var kept in due)
        {
            try
            {
                TruncateIfThere(Path.Combine(kept.Dir, MessageFile));
                TruncateIfThere(Path.Combine(kept.Dir, SpareEnvelope));
                emptied.Add(kept with { Empty = true });
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { TryDelete(kept.Dir); }
        }
        lock (_lock)
        {
            _free.InsertRange(0, emptied);
            StopTimerIfDone();
        }
        return emptied.Count;
    }

    /// <summary>Under the lock: with nothing left to empty, the timer goes until a directory is kept again (Recycle).</summary>
    void StopTimerIfDone()
    {
        if (_free.Exists(k => !k.Empty)) return;
        _emptying?.Dispose();
        _emptying = null;
    }

    /// <summary>
    /// A removed envelope's file, kept as its directory's spare (replacing the spare it may have:
    /// one is kept); false when there was no such file. Its text goes with the directory's
    /// (<see cref="EmptyAfter"/>), or when the spare is rewritten.
    /// </summary>
    public static bool RetireEnvelope(string path) =>
        FileRename.TryRename(path, Path.Combine(Path.GetDirectoryName(path)!, SpareEnvelope));

    /// <summary>
    /// Renames the directory's spare envelope file to <paramref name="path"/>; false when it has
    /// none. The caller rewrites it whole (it may hold an old envelope's text), so this is for a
    /// message still being received only: a crash before its commit discards the directory, and
    /// never leaves an old envelope's text under a committed envelope's name.
    /// </summary>
    public static bool TakeSpare(string path)
    {
        string spare = Path.Combine(Path.GetDirectoryName(path)!, SpareEnvelope);
        return FileRename.TryRename(spare, path);
    }

    static void TruncateIfThere(string file)
    {
        try { using var handle = File.OpenHandle(file, FileMode.Truncate, FileAccess.Write); }
        catch (FileNotFoundException) { }
    }

    static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
    }
}
