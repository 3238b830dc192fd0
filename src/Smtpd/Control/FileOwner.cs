using System.Runtime.InteropServices;

namespace Smtpd.Control;

/// <summary>What lstat says of a file, read through statx, whose layout is the same on every architecture.</summary>
public static partial class FileOwner
{
    const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, AtEmptyPath = 0x1000, StatxBasicStats = 0x7ff;
    const int ORdOnly = 0, ONonBlock = 0x800, OCloExec = 0x80000;
    // O_NOFOLLOW: 0400000 in asm-generic (x86-64), 0100000 on arm64.
    static int ONoFollow => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;
    const ushort TypeMask = 0xF000, Regular = 0x8000;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buf);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    /// <summary>
    /// Opens a file for reading without following a symlink (O_NOFOLLOW; O_NONBLOCK so that a FIFO
    /// cannot hold the caller) and says what the opened file is: checked on the descriptor, so the
    /// file cannot be swapped between the check and the read (a root reader in a world-writable
    /// directory must never be made to read another file).
    /// </summary>
    public static (FileStream? Stream, uint Uid, uint Links, bool IsRegular) OpenNoFollow(string path) => OpenChecked(path, followLinks: false);

    /// <summary>
    /// As <see cref="OpenNoFollow"/>, following a symlink when <paramref name="followLinks"/> (the
    /// caller then reads with an identity that may read no more than the link's owner could).
    /// ENOENT and the like come as an <see cref="IOException"/> whose HResult is the errno.
    /// </summary>
    public static unsafe (FileStream? Stream, uint Uid, uint Links, bool IsRegular) OpenChecked(string path, bool followLinks)
    {
        int fd = Open(path, ORdOnly | (followLinks ? 0 : ONoFollow) | ONonBlock | OCloExec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // ELOOP: the name is a symlink.
            throw errno == 40 ? new FormatException("not a regular file") : new IOException($"{path}: {SystemErrors.StrError(errno)}", errno);
        }
        var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        try
        {
            byte* buf = stackalloc byte[256];
            if (Statx(fd, "", AtEmptyPath, StatxBasicStats, buf) != 0)
                throw new IOException($"{path}: statx: {SystemErrors.StrError(Marshal.GetLastPInvokeError())}");
            var s = new ReadOnlySpan<byte>(buf, 256);
            uint links = MemoryMarshal.Read<uint>(s[16..]);
            uint uid = MemoryMarshal.Read<uint>(s[20..]);
            ushort mode = MemoryMarshal.Read<ushort>(s[28..]);
            bool regular = (mode & TypeMask) == Regular;
            // Only a regular file becomes a stream; for anything else the caller gets its type alone.
            if (!regular) { handle.Dispose(); return (null, uid, links, false); }
            return (new FileStream(handle, FileAccess.Read), uid, links, true);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Owner uid, link count and whether it is a regular file (a symlink is not).</summary>
    public static unsafe (uint Uid, uint Links, bool IsRegular) Of(string path)
    {
        byte* buf = stackalloc byte[256]; // struct statx
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buf) != 0)
            throw new IOException($"{path}: statx: errno {Marshal.GetLastPInvokeError()}");
        var s = new ReadOnlySpan<byte>(buf, 256);
        uint links = MemoryMarshal.Read<uint>(s[16..]);
        uint uid = MemoryMarshal.Read<uint>(s[20..]);
        ushort mode = MemoryMarshal.Read<ushort>(s[28..]);
        return (uid, links, (mode & TypeMask) == Regular);
    }
}
