using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Smtp.Auth;

/// <summary>
/// Password hashes through the system's libcrypt (libxcrypt on Debian), so that every hash the
/// system itself understands works here too: SHA-512 crypt ($6$), bcrypt ($2b$), yescrypt ($y$)...
/// The re-entrant calls keep concurrent checks apart.
/// </summary>
public static partial class PasswordCrypt
{
    const string Lib = "libcrypt.so.1";
    // sizeof(struct crypt_data) in libxcrypt is about 33 KiB; give it room.
    const int DataSize = 64 * 1024;

    [LibraryImport(Lib, EntryPoint = "crypt_rn", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr CryptRn(string phrase, string setting, IntPtr data, int size);

    [LibraryImport(Lib, EntryPoint = "crypt_gensalt_rn", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr CryptGensaltRn(string prefix, ulong count, IntPtr rbytes, int nrbytes, IntPtr output, int outputSize);

    /// <summary>The hash of <paramref name="password"/> with <paramref name="setting"/> (a salt or a whole hash), or null if libcrypt refuses it.</summary>
    public static string? Hash(string password, string setting)
    {
        IntPtr data = Marshal.AllocHGlobal(DataSize);
        try
        {
            unsafe { new Span<byte>((void*)data, DataSize).Clear(); }
            IntPtr result = CryptRn(password, setting, data, DataSize);
            if (result == IntPtr.Zero) return null;
            string? hash = Marshal.PtrToStringUTF8(result);
            return hash is null || hash.StartsWith('*') ? null : hash;
        }
        finally
        {
            unsafe { new Span<byte>((void*)data, DataSize).Clear(); } // the password passed through it
            Marshal.FreeHGlobal(data);
        }
    }

    /// <summary>True if <paramref name="password"/> hashes to <paramref name="hash"/>; compared in constant time.</summary>
    public static bool Verify(string password, string hash)
    {
        // Locked or disabled accounts ("!", "*", "!!$6$...") and empty hashes never match.
        if (hash.Length < 2 || hash[0] is '!' or '*') return false;
        string? computed = Hash(password, hash);
        if (computed is null) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(computed), Encoding.UTF8.GetBytes(hash));
    }

    /// <summary>A new SHA-512 crypt hash with a random salt (what <c>smtpctl encrypt</c> prints).</summary>
    public static string NewHash(string password, string prefix = "$6$")
    {
        IntPtr salt = Marshal.AllocHGlobal(256);
        try
        {
            if (CryptGensaltRn(prefix, 0, IntPtr.Zero, 0, salt, 256) == IntPtr.Zero)
                throw new CryptographicException($"libcrypt cannot make a salt for {prefix}");
            string setting = Marshal.PtrToStringUTF8(salt)!;
            return Hash(password, setting) ?? throw new CryptographicException("libcrypt failed to hash the password");
        }
        finally { Marshal.FreeHGlobal(salt); }
    }
}
