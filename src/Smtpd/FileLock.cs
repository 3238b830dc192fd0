using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Smtpd;

/// <summary>
/// flock(2) on an open file: the spool's one-daemon lock and the mbox lock. Taken explicitly
/// because the executable turns off the lock .NET itself takes for a FileShare (smtpd.csproj).
/// </summary>
public static partial class FileLock
{
    const int LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    /// <summary>An exclusive lock, without waiting: false when another open file holds one.</summary>
    public static bool TryLockExclusive(SafeFileHandle file) => Flock(file.DangerousGetHandle(), LOCK_EX | LOCK_NB) == 0;

    public static void Unlock(SafeFileHandle file) => Flock(file.DangerousGetHandle(), LOCK_UN);

    [LibraryImport("libc", EntryPoint = "flock")]
    private static partial int Flock(nint fd, int operation);
}
