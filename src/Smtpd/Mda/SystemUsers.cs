using System.Runtime.InteropServices;

namespace Smtpd.Mda;

/// <summary>
/// The system's user database through libc (getpwnam_r/getpwuid_r), so that NSS sources
/// (files, LDAP, sssd) answer exactly as they do for login. Local parts are looked up in lower
/// case, as OpenSMTPD does.
/// </summary>
public static unsafe partial class SystemUsers
{
    [StructLayout(LayoutKind.Sequential)]
    struct Passwd
    {
        public byte* Name;
        public byte* Password;
        public uint Uid;
        public uint Gid;
        public byte* Gecos;
        public byte* Dir;
        public byte* Shell;
    }

    [LibraryImport("libc", EntryPoint = "getpwnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int GetPwNam(string name, Passwd* pwd, byte* buf, nuint buflen, Passwd** result);

    [LibraryImport("libc", EntryPoint = "getpwuid_r")]
    private static partial int GetPwUid(uint uid, Passwd* pwd, byte* buf, nuint buflen, Passwd** result);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    const int ERANGE = 34;
    // What getpwnam_r(3) may return for "no such user" besides 0 on other systems.
    const int EPERM = 1, ENOENT = 2, ESRCH = 3, EBADF = 9;

    public static bool IsRoot => GetEuid() == 0;

    /// <summary>The user named <paramref name="name"/>, or null if there is none.</summary>
    /// <exception cref="Table.TableTempFailException">
    /// The user database could not be read (out of descriptors, an NSS source down): not knowing
    /// is no "unknown user", the recipient gets 451, as OpenSMTPD's getpwnam table answers.
    /// </exception>
    public static SystemUser? Lookup(string name)
    {
        if (name.Length == 0 || name.Length > 256 || name.Contains('\0') || name.Contains('/')) return null;
        string lower = name.ToLowerInvariant();
        int error = 0;
        var user = Query((pwd, buf, len, result) => error = GetPwNam(lower, pwd, buf, len, result));
        if (user is null && error is not (0 or ERANGE or EPERM or ENOENT or ESRCH or EBADF))
            throw new Table.TableTempFailException("getpwnam", $"getpwnam({lower}): {Marshal.GetPInvokeErrorMessage(error)}");
        return user;
    }

    /// <summary>The user with uid <paramref name="uid"/>, or null.</summary>
    public static SystemUser? LookupUid(uint uid) => Query((pwd, buf, len, result) => GetPwUid(uid, pwd, buf, len, result));

    /// <summary>The user this process runs as.</summary>
    public static SystemUser Current()
    {
        uint uid = GetEuid();
        return Query((pwd, buf, len, result) => GetPwUid(uid, pwd, buf, len, result))
            ?? new SystemUser(Environment.UserName, uid, uid, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), "/bin/sh");
    }

    delegate int PwQuery(Passwd* pwd, byte* buf, nuint len, Passwd** result);

    static SystemUser? Query(PwQuery query)
    {
        // Most entries fit in 1 KiB: on the stack, so a lookup per recipient allocates only its strings.
        Span<byte> small = stackalloc byte[1024];
        for (int size = small.Length; size <= 1 << 20; size *= 4)
        {
            Span<byte> buffer = size == small.Length ? small : new byte[size];
            fixed (byte* buf = buffer)
            {
                Passwd pwd;
                Passwd* result = null;
                int rc = query(&pwd, buf, (nuint)size, &result);
                if (rc == ERANGE) continue;
                if (rc != 0 || result == null) return null;
                return new SystemUser(
                    Marshal.PtrToStringUTF8((nint)pwd.Name) ?? "",
                    pwd.Uid, pwd.Gid,
                    Marshal.PtrToStringUTF8((nint)pwd.Dir) ?? "/",
                    Marshal.PtrToStringUTF8((nint)pwd.Shell) ?? "");
            }
        }
        return null;
    }
}
