namespace Smtpd.Queue;

/// <summary>
/// Modes of everything in the spool, as OpenSMTPD's queue_fs and queue_backend make them: mail
/// is read by nobody but the daemon, so every file is 0600 and every directory 0700, whatever
/// the umask and whoever started us. The exceptions are the spool itself (0711: others may reach
/// offline/ but list nothing) and offline/ (1777 here, see <see cref="OfflineDirectory"/>).
/// </summary>
public static class SpoolModes
{
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode Directory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode Root = Directory | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>
    /// offline/: OpenSMTPD makes it 0770 group opensmtpq and its smtpctl setgid opensmtpq; our
    /// smtpctl runs under dotnet and cannot be setgid, so anyone may drop a file (sticky, as
    /// /tmp: nobody removes another's). Each file is 0600 and sent as its owner.
    /// </summary>
    public const UnixFileMode OfflineDirectory = (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit;

    /// <summary>Options for a new spool file: created 0600 (an existing file keeps its mode).</summary>
    public static FileStreamOptions NewFile(FileMode mode, FileOptions options = FileOptions.None, int bufferSize = 4096) => new()
    {
        Mode = mode,
        Access = FileAccess.Write,
        Share = FileShare.None,
        Options = options,
        BufferSize = bufferSize,
        UnixCreateMode = File,
    };

    /// <summary>Creates a spool directory 0700, and makes an existing one 0700.</summary>
    public static void EnsureDirectory(string path)
    {
        var info = System.IO.Directory.CreateDirectory(path, Directory);
        if (info.UnixFileMode != Directory) System.IO.File.SetUnixFileMode(path, Directory);
    }

    /// <summary>
    /// Takes group and other bits off everything under <paramref name="dir"/> (files 0600, directories
    /// 0700): a spool written by an older version, or by hand, is private again before we serve it.
    /// </summary>
    public static void Tighten(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) return;
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos("*", options))
        {
            if (entry.LinkTarget is not null) continue;
            var wanted = entry is DirectoryInfo ? Directory : File;
            try { if (entry.UnixFileMode != wanted) entry.UnixFileMode = wanted; }
            catch (FileNotFoundException) { } // removed since the listing
        }
    }
}
