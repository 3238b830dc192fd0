namespace Smtpd.Queue;

/// <summary>
/// <c>purge/</c>: the directories of removed messages, emptied and kept to receive new ones.
/// Creating and deleting inodes is what a busy queue costs the filesystem most: ext4 without a
/// journal scans past every inode freed in the last minutes to allocate one (perf: 30 % of the
/// daemon's CPU under load was <c>__ext4_new_inode</c>, most of it <c>recently_deleted</c>), and a
/// journal records every allocation and free. A message took three inodes (its directory, its
/// message file, one envelope file) and gave them back once delivered; kept here, the next message
/// renames them into <c>incoming/</c> and rewrites them. What is kept is empty: the message file
/// and the one spare envelope file are truncated when their message goes, so delivered mail does
/// not linger in the spool. At start <c>purge/</c> is emptied (nothing in it is mail).
/// </summary>
/// <param name="capacity">Directories kept at most; more are deleted as before.</param>
internal sealed class SpoolRecycler(string purge, int capacity = 64)
{
    /// <summary>The name, in a message's directory, of an envelope file kept for the next envelope.</summary>
    public const string SpareEnvelope = "spare";
    const string MessageFile = "message";

    readonly Lock _lock = new();
    readonly Stack<string> _free = new();
    long _names;

    public void Init()
    {
        foreach (var stale in Directory.EnumerateFileSystemEntries(purge))
        {
            if (Directory.Exists(stale)) Directory.Delete(stale, recursive: true);
            else File.Delete(stale);
        }
    }

    /// <summary>Moves a kept directory to <paramref name="target"/> (which must not exist); false when none is kept.</summary>
    public bool TryTake(string target)
    {
        string? dir;
        lock (_lock)
            if (!_free.TryPop(out dir)) return false;
        try
        {
            FileRename.Rename(dir, target);
            return true;
        }
        catch (IOException)
        {
            TryDelete(dir);
            return false;
        }
    }

    /// <summary>
    /// A removed message's directory: its message file and one envelope file emptied and kept, the
    /// rest deleted, the directory moved to <c>purge/</c>; deleted outright when enough are kept.
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
            if (leaf == MessageFile) Truncate(file);
            else if (leaf == SpareEnvelope) { } // emptied when it became the spare (RetireEnvelope)
            else if (!spare && QueueIds.TryParseEnvelope(leaf, out _))
            {
                FileRename.Rename(file, Path.Combine(dir, SpareEnvelope));
                Truncate(Path.Combine(dir, SpareEnvelope));
                spare = true;
            }
            else File.Delete(file);
        }
        FileRename.Rename(dir, name);
        lock (_lock) _free.Push(name);
    }

    /// <summary>A removed envelope's file: kept, emptied, as its directory's spare (replacing the
    /// spare it may have: one is kept); false when there was no such file.</summary>
    public static bool RetireEnvelope(string path)
    {
        string spare = Path.Combine(Path.GetDirectoryName(path)!, SpareEnvelope);
        if (!FileRename.TryRename(path, spare)) return false;
        Truncate(spare);
        return true;
    }

    /// <summary>Renames the directory's spare envelope file to <paramref name="path"/>; false when it has none.</summary>
    public static bool TakeSpare(string path)
    {
        string spare = Path.Combine(Path.GetDirectoryName(path)!, SpareEnvelope);
        return FileRename.TryRename(spare, path);
    }

    static void Truncate(string file)
    {
        using var handle = File.OpenHandle(file, FileMode.Truncate, FileAccess.Write);
    }

    static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
    }
}
