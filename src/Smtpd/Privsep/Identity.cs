namespace Smtpd.Privsep;

/// <summary>
/// Giving up root for good (OpenSMTPD's setgroups/setresgid/setresuid sequence): groups first,
/// then the gid, then the uid, all three ids of each, and a check that root cannot be taken back.
/// glibc applies setresuid/setresgid/setgroups to every thread of the process.
/// </summary>
public static unsafe class Identity
{
    /// <summary>The supplementary groups of <paramref name="user"/> (from the group database) plus <paramref name="gid"/>.</summary>
    public static uint[] GroupsOf(string user, uint gid)
    {
        int n = 64;
        for (int attempt = 0; attempt < 6; attempt++, n *= 4)
        {
            uint[] groups = new uint[n];
            int count = n;
            fixed (uint* g = groups)
                if (Posix.getgrouplist(user, gid, g, &count) >= 0) return groups[..count];
        }
        return [gid];
    }

    /// <exception cref="InvalidOperationException">The kernel refused, or root could be taken back.</exception>
    public static void Become(uint uid, uint gid, uint[] groups)
    {
        if (uid == 0) throw new InvalidOperationException("refusing to keep running as root");
        fixed (uint* g = groups)
            if (Posix.setgroups((nuint)groups.Length, g) != 0)
                throw new InvalidOperationException($"setgroups failed: errno {Posix.LastError}");
        if (Posix.setresgid(gid, gid, gid) != 0) throw new InvalidOperationException($"setresgid({gid}) failed: errno {Posix.LastError}");
        if (Posix.setresuid(uid, uid, uid) != 0) throw new InvalidOperationException($"setresuid({uid}) failed: errno {Posix.LastError}");
        if (Posix.getuid() != uid || Posix.geteuid() != uid || Posix.getgid() != gid || Posix.setresuid(0, 0, 0) == 0)
            throw new InvalidOperationException("privileges were not dropped");
    }

    /// <summary>
    /// Gives <paramref name="path"/> and everything under it to uid:gid (symlinks themselves, never
    /// their targets), except what is inside <paramref name="keepOwners"/>: there the owner is the sender.
    /// </summary>
    public static void ChownTree(string path, uint uid, uint gid, string? keepOwners = null)
    {
        if (Posix.lchown(path, uid, gid) != 0) throw new IOException($"chown {path} failed: errno {Posix.LastError}");
        if (keepOwners is not null && Path.GetFullPath(path) == Path.GetFullPath(keepOwners)) return;
        if (new DirectoryInfo(path) is { Exists: true, LinkTarget: null })
            foreach (var entry in new DirectoryInfo(path).EnumerateFileSystemInfos())
                ChownTree(entry.FullName, uid, gid, keepOwners);
    }
}
