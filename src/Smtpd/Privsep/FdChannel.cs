using System.Runtime.InteropServices;

namespace Smtpd.Privsep;

/// <summary>
/// One end of a unix SOCK_SEQPACKET socket pair between the unprivileged daemon and its
/// privileged helper: each Send is one message (boundaries kept by the kernel), and a message
/// may carry open file descriptors (SCM_RIGHTS), as OpenSMTPD's imsg passes them. Blocking
/// calls: each side reads on a thread of its own.
/// </summary>
public sealed unsafe class FdChannel : IDisposable
{
    public const int MaxMessage = 256 * 1024;
    const int MaxFds = 4;
    const int CmsgHeader = 16; // struct cmsghdr { size_t len; int level; int type; } on LP64
    readonly object _sendLock = new();
    int _fd;
    /// <summary>Where Receive reads, made at the first one and kept: each end has one reader (its own
    /// thread), and a fresh 256 KiB array per message was a large object for every request and
    /// reply (two per recipient with a ~/.forward check), and a full collection every few of them.</summary>
    byte[]? _received;

    public FdChannel(int fd) => _fd = fd;

    public int Fd => _fd;

    /// <summary>A connected pair; both ends close on exec (clear it on the one a child inherits).</summary>
    public static (FdChannel, FdChannel) Pair(int type = Posix.SockSeqPacket)
    {
        int* fds = stackalloc int[2];
        if (Posix.socketpair(Posix.AfUnix, type | Posix.SockCloexec, 0, fds) != 0)
            throw new IOException($"socketpair failed: errno {Posix.LastError}");
        return (new FdChannel(fds[0]), new FdChannel(fds[1]));
    }

    public void Send(ReadOnlySpan<byte> data, params ReadOnlySpan<int> fds)
    {
        if (data.Length is 0 or > MaxMessage) throw new ArgumentException("message size out of range");
        if (fds.Length > MaxFds) throw new ArgumentException("too many descriptors");
        int space = CmsgHeader + (fds.Length * sizeof(int) + 7) / 8 * 8;
        byte* control = stackalloc byte[CmsgHeader + MaxFds * sizeof(int)];
        lock (_sendLock)
        fixed (byte* p = data)
        {
            var iov = new Posix.IoVec { Base = p, Len = (nuint)data.Length };
            var msg = new Posix.MsgHdr { Iov = &iov, IovLen = 1 };
            if (fds.Length > 0)
            {
                new Span<byte>(control, space).Clear();
                *(nuint*)control = (nuint)(CmsgHeader + fds.Length * sizeof(int));
                *(int*)(control + 8) = Posix.SolSocket;
                *(int*)(control + 12) = Posix.ScmRights;
                for (int i = 0; i < fds.Length; i++) ((int*)(control + CmsgHeader))[i] = fds[i];
                msg.Control = control;
                msg.ControlLen = (nuint)space;
            }
            nint n;
            do n = Posix.sendmsg(_fd, &msg, 0x4000 /* MSG_NOSIGNAL */);
            while (n < 0 && Posix.LastError == Posix.EINTR);
            if (n != data.Length) throw new IOException($"privileged channel: send failed (errno {Posix.LastError})");
        }
    }

    /// <summary>The next message and the descriptors that came with it; null when the other end is
    /// gone. One reader at a time (each end reads on a thread of its own).</summary>
    public (byte[] Data, int[] Fds)? Receive()
    {
        byte[] buffer = _received ??= new byte[MaxMessage];
        byte* control = stackalloc byte[CmsgHeader + MaxFds * sizeof(int)];
        fixed (byte* p = buffer)
        {
            var iov = new Posix.IoVec { Base = p, Len = (nuint)buffer.Length };
            var msg = new Posix.MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = (nuint)(CmsgHeader + MaxFds * sizeof(int)) };
            nint n;
            do n = Posix.recvmsg(_fd, &msg, 0x40000000 /* MSG_CMSG_CLOEXEC */);
            while (n < 0 && Posix.LastError == Posix.EINTR);
            if (n <= 0) return null;
            var fds = new List<int>();
            if (msg.ControlLen >= CmsgHeader && *(int*)(control + 8) == Posix.SolSocket && *(int*)(control + 12) == Posix.ScmRights)
            {
                int count = (int)((*(nuint*)control - CmsgHeader) / sizeof(int));
                for (int i = 0; i < count && i < MaxFds; i++) fds.Add(((int*)(control + CmsgHeader))[i]);
            }
            return (buffer.AsSpan(0, (int)n).ToArray(), fds.ToArray());
        }
    }

    /// <summary>Lets a child started next inherit this end (see <see cref="ChildProcess"/>).</summary>
    public void Inheritable(bool inherit) => Posix.fcntl(_fd, Posix.FSetFd, inherit ? 0 : Posix.FdCloexec);

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Posix.close(fd);
    }

    /// <summary>Wraps the end as a .NET socket (for stream pairs), which then owns the descriptor.</summary>
    public System.Net.Sockets.Socket ToSocket()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        return new System.Net.Sockets.Socket(new System.Net.Sockets.SafeSocketHandle(fd, ownsHandle: true));
    }
}
