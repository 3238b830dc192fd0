using System.Runtime.InteropServices;

namespace Smtpd.Privsep;

/// <summary>The few system calls privilege separation needs and .NET does not wrap.</summary>
static unsafe partial class Posix
{
    public const int AfUnix = 1, SockStream = 1, SockSeqPacket = 5, SockCloexec = 0x80000;
    public const int FGetFd = 1, FSetFd = 2, FdCloexec = 1;
    public const int SolSocket = 1, ScmRights = 1;
    public const int EINTR = 4;
    public const uint CloseRangeCloexec = 4;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close_range(uint first, uint last, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendmsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvmsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setresuid(uint ruid, uint euid, uint suid);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setresgid(uint rgid, uint egid, uint sgid);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setgroups(nuint size, uint* list);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getgroups(int size, uint* list);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int getgrouplist(string user, uint group, uint* groups, int* ngroups);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int lchown(string path, uint owner, uint group);

    [LibraryImport("libc")]
    public static partial uint getuid();

    [LibraryImport("libc")]
    public static partial uint geteuid();

    [LibraryImport("libc")]
    public static partial uint getgid();

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint getgrnam(string name);

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Len;
    }

    /// <summary>The gid of group <paramref name="name"/> (struct group's third field), or null.</summary>
    public static uint? GroupId(string name)
    {
        nint g = getgrnam(name);
        return g == 0 ? null : *(uint*)((byte*)g + 2 * sizeof(nint));
    }

    public static int LastError => Marshal.GetLastPInvokeError();
}
