using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Smtpd;

/// <summary>fsync(2) of a directory, so that a create, rename or unlink inside it is durable.</summary>
public static partial class DirectorySync
{
    const int O_RDONLY = 0, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>An open descriptor of a directory, to fsync(2) or syncfs(2) later (possibly from another thread or identity).</summary>
    public static SafeFileHandle Open(string directory)
    {
        int fd = Open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw new IOException($"open {directory}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    public static void Sync(string directory)
    {
        int fd = Open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw new IOException($"open {directory}: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync {directory}: errno {Marshal.GetLastPInvokeError()}");
        }
        finally { Close(fd); }
    }
}

