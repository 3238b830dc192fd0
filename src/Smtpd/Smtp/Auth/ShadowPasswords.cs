using System.Runtime.InteropServices;

namespace Smtpd.Smtp.Auth;

/// <summary>
/// The system's password hashes (/etc/shadow through getspnam_r, so NSS modules are honoured).
/// Only root can read them: run unprivileged, system authentication is unavailable.
/// </summary>
public static partial class ShadowPasswords
{
    [StructLayout(LayoutKind.Sequential)]
    struct Spwd
    {
        public IntPtr Name;
        public IntPtr Password;
        public nint LastChange, Min, Max, Warn, Inactive, Expire;
        public nuint Flag;
    }

    [LibraryImport("libc", EntryPoint = "getspnam_r", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int GetSpnamR(string name, ref Spwd result, IntPtr buffer, nuint size, out IntPtr resultPtr);

    /// <summary>The hash for <paramref name="user"/>; null when there is no such user.</summary>
    /// <exception cref="UnauthorizedAccessException">The shadow database cannot be read (not root).</exception>
    public static string? HashOf(string user)
    {
        const int size = 16 * 1024;
        IntPtr buffer = Marshal.AllocHGlobal(size);
        try
        {
            var entry = new Spwd();
            int rc = GetSpnamR(user, ref entry, buffer, size, out IntPtr found);
            if (rc == 0 && found != IntPtr.Zero) return Marshal.PtrToStringUTF8(entry.Password);
            if (rc == 0 || rc == 2 /* ENOENT */) return null;
            if (rc == 13 /* EACCES */) throw new UnauthorizedAccessException("cannot read the shadow password database");
            throw new IOException($"getspnam_r({user}) failed: error {rc}");
        }
        finally
        {
            unsafe { new Span<byte>((void*)buffer, size).Clear(); }
            Marshal.FreeHGlobal(buffer);
        }
    }
}
