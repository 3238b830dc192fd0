using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Smtpd.Privsep;

/// <summary>
/// Reads a user's <c>~/.forward</c> for the privileged helper, with whatever file identity the
/// calling thread has taken (<see cref="Mda.UserFileAccess.RunHere{T}"/>). The user controls the
/// name, so it may be anything: it is opened without blocking (a FIFO would hold the helper's
/// thread of forward reads, and every other user's mail with it, until someone writes to it),
/// only a regular file is read, and never more than <see cref="MaxSize"/> bytes (a link to
/// /dev/zero would otherwise be read by root without end). OpenSMTPD opens it the same way
/// (O_NONBLOCK, then a check that it is a regular file).
/// </summary>
public static unsafe partial class ForwardFile
{
    public const int MaxSize = 64 * 1024;

    const int ORdOnly = 0, ONonBlock = 0x800, OCloExec = 0x80000; // the same on x86-64 and arm64
    const int AtEmptyPath = 0x1000;
    const uint StatxType = 0x1;
    const int ENOENT = 2, ENOTDIR = 20;
    const ushort SIfMt = 0xF000, SIfReg = 0x8000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    // statx's buffer is laid out the same on every architecture (unlike struct stat): stx_mode at byte 28.
    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The text of the file; null when there is none (or it is larger than <see cref="MaxSize"/>, as before: ignored).</summary>
    /// <exception cref="IOException">It cannot be read, or is not a regular file: the recipient gets a temporary failure.</exception>
    public static string? Read(string path)
    {
        int fd = Open(path, ORdOnly | ONonBlock | OCloExec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) return null;
            throw new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        byte* stx = stackalloc byte[256];
        if (Statx(fd, "", AtEmptyPath, StatxType, stx) != 0)
            throw new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        if ((*(ushort*)(stx + 28) & SIfMt) != SIfReg) throw new IOException($"{path}: not a regular file");

        byte[] buffer = new byte[MaxSize + 1];
        int total = 0, n;
        while (total < buffer.Length && (n = RandomAccess.Read(handle, buffer.AsSpan(total), total)) > 0) total += n;
        return total > MaxSize ? null : Encoding.UTF8.GetString(buffer, 0, total);
    }
}
