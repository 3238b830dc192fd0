using System.Runtime.InteropServices;

namespace Smtpd.Table;

/// <summary>
/// Deadlines for libldap, which System.DirectoryServices.Protocols cannot set on Linux: without
/// them a server that accepts the connection but never answers (stopped, overloaded) holds the
/// bind forever. They are libldap's process-wide defaults, copied into every connection opened
/// after they are set: LDAP_OPT_NETWORK_TIMEOUT bounds the connect, LDAP_OPT_TIMEOUT each
/// synchronous call (the bind). Set once, before the first connection.
/// </summary>
static class LibLdapTimeouts
{
    const int LdapOptTimeout = 0x5002, LdapOptNetworkTimeout = 0x5005;
    // The names System.DirectoryServices.Protocols tries, in its order, so that we reach the same library.
    static readonly string[] Libraries = ["libldap.so.2", "libldap-2.6.so.0", "libldap-2.5.so.0", "libldap-2.4.so.2"];
    static readonly Lazy<string?> Problem = new(() => Set(TimeSpan.FromSeconds(10)));

    [StructLayout(LayoutKind.Sequential)]
    struct TimeVal { public long Seconds; public long Microseconds; }

    /// <summary>Sets the defaults once; null when they are in place, else why not.</summary>
    public static string? Ensure() => Problem.Value;

    static unsafe string? Set(TimeSpan timeout)
    {
        foreach (string name in Libraries)
        {
            if (!NativeLibrary.TryLoad(name, out var library)) continue;
            if (!NativeLibrary.TryGetExport(library, "ldap_set_option", out var export)) return $"{name} has no ldap_set_option";
            var setOption = (delegate* unmanaged<IntPtr, int, TimeVal*, int>)export;
            var value = new TimeVal { Seconds = (long)timeout.TotalSeconds };
            // A null handle sets the global defaults (ldap_set_option(3)).
            if (setOption(IntPtr.Zero, LdapOptNetworkTimeout, &value) != 0 || setOption(IntPtr.Zero, LdapOptTimeout, &value) != 0)
                return $"{name}: ldap_set_option refused the timeouts";
            return null;
        }
        return "libldap is not installed (Debian: libldap-2.5-0)";
    }
}
