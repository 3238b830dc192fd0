using System.Runtime.InteropServices;

namespace Smtpd;

/// <summary>
/// rename(2) alone. <see cref="File.Move(string, string)"/> and <see cref="Directory.Move"/> first
/// look at both names (three or four lstat calls before the rename); on the queue's path, where
/// every message is renamed about six times and the names are ours and unique, that was a tenth
/// of the system calls. Unlike <c>File.Move</c>, an existing file at <paramref name="to"/> is
/// replaced, as rename(2) does: callers rename only to names they own.
/// </summary>
public static partial class FileRename
{
    const int ENOENT = 2, EPERM = 1, EACCES = 13;

    /// <summary>Renames; throws <see cref="IOException"/> (<see cref="FileNotFoundException"/>
    /// when <paramref name="from"/> or the directory of <paramref name="to"/> is missing).</summary>
    public static void Rename(string from, string to)
    {
        if (!TryRename(from, to)) throw new FileNotFoundException($"rename {from} to {to}: {SystemErrors.StrError(ENOENT)}", from);
    }

    /// <summary>Renames; false when <paramref name="from"/> (or the directory of <paramref name="to"/>) does not exist.</summary>
    public static bool TryRename(string from, string to)
    {
        if (rename(from, to) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ENOENT) return false;
        var error = new IOException($"rename {from} to {to}: {SystemErrors.StrError(errno)}", errno);
        throw errno is EACCES or EPERM ? new UnauthorizedAccessException(error.Message, error) : error;
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int rename(string from, string to);
}
