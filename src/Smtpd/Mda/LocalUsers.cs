namespace Smtpd.Mda;

/// <summary>
/// Who may receive local mail here. As root: every system user (each delivery is made as, and
/// owned by, that user). As a normal user: only that user, since we could not write anywhere else.
/// </summary>
public sealed class LocalUsers
{
    readonly SystemUser _current = SystemUsers.Current();
    // Decided when smtpd starts: a daemon that later gives up root still serves every user.
    readonly bool _allUsers = SystemUsers.IsRoot;

    public static bool IsRoot => SystemUsers.IsRoot;

    public SystemUser? Get(string name)
    {
        var user = SystemUsers.Lookup(name);
        if (user is null) return null;
        return _allUsers || user.Uid == _current.Uid ? user : null;
    }

    /// <summary>The canonical user name if mail for <paramref name="name"/> can be delivered here.</summary>
    public string? AcceptsMailFor(string name) => Get(name)?.Name;
}
