using System.Runtime.InteropServices;

namespace Smtpd.Control;

/// <summary>What lstat says of a file, read through statx, whose layout is the same on every architecture.</summary>
public static partial class FileOwner
{
    const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxBasicStats = 0x7ff;
    const ushort TypeMask = 0xF000, Regular = 0x8000;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buf);

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
