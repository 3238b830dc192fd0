using System.Runtime.InteropServices;

namespace Smtpd;

/// <summary>
/// Unpredictable ids (sessions, messages, envelopes, Message-ID headers) from the kernel's
/// getrandom(2), as OpenSMTPD takes them from arc4random. Not RandomNumberGenerator: on Linux it
/// goes through OpenSSL, and loading libcrypto for the first session's id costs every daemon
/// 3.3 MB of mapped library and OpenSSL's own start-up, even one that never speaks TLS.
/// </summary>
public static unsafe partial class SecureRandom
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial nint getrandom(byte* buffer, nuint length, uint flags);

    public static void Fill(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint n = getrandom(p + done, (nuint)(buffer.Length - done), 0);
                if (n > 0) done += (int)n;
                else if (Marshal.GetLastPInvokeError() != 4 /* EINTR */)
                    throw new IOException($"getrandom: {Marshal.GetLastPInvokeErrorMessage()}");
            }
        }
    }

    public static ulong NextUInt64()
    {
        ulong value;
        Fill(new Span<byte>(&value, sizeof(ulong)));
        return value;
    }

    /// <summary>A random 32-bit value that is never 0 (0 means "none" in queue ids).</summary>
    public static uint NextNonZeroUInt32()
    {
        uint value;
        do Fill(new Span<byte>(&value, sizeof(uint))); while (value == 0);
        return value;
    }

    /// <summary><paramref name="bytes"/> random bytes as lowercase hexadecimal.</summary>
    public static string Hex(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        Fill(buffer);
        return Convert.ToHexStringLower(buffer);
    }
}
