using System.Runtime.InteropServices;
using Smtpd.Mda;

namespace Smtpd.Control;

/// <summary>
/// Who a local submission comes from, as the kernel says it (SO_PEERCRED for the control socket,
/// the owner of a file in offline/): root and the daemon's own user may name any sender; anyone
/// else sends as themselves, <c>user@host</c> from getpwuid, as enqueue.c builds it (qualify_addr).
/// </summary>
public static partial class LocalSender
{
    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    public static bool IsTrusted(uint? uid) => uid == 0 || uid == GetEuid();

    /// <summary>The sender an untrusted uid is bound to; null when the uid may choose its own.</summary>
    public static string? BoundSender(uint? uid)
    {
        if (IsTrusted(uid)) return null;
        // enqueue.c: a uid the password database does not know sends as "anonymous".
        string user = uid is { } u ? SystemUsers.LookupUid(u)?.Name ?? "anonymous" : "anonymous";
        return $"{user}@{System.Net.Dns.GetHostName()}";
    }
}
