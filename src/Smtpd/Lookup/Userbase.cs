using Smtpd.Mda;
using Smtpd.Table;

namespace Smtpd.Lookup;

/// <summary>
/// <c>userbase &lt;table&gt;</c>: virtual users that are not system accounts (seed 004,
/// <c>"alice" = "100:100:/var/vusers/alice"</c>). The table's userinfo service gives uid, gid
/// and home; the shell is /bin/sh. Keys are looked up in lowercase.
/// </summary>
public static class Userbase
{
    /// <exception cref="TableTempFailException">The table cannot be consulted now.</exception>
    public static SystemUser? Get(TableSet tables, string table, string name)
    {
        string? value = tables[table].Lookup(TableService.UserInfo, name.ToLowerInvariant());
        if (value is null) return null;
        string[] parts = value.Trim().Trim('"').Split(':', 3);
        if (parts.Length != 3 || !uint.TryParse(parts[0], out uint uid) || !uint.TryParse(parts[1], out uint gid) || !parts[2].StartsWith('/'))
            throw new TableTempFailException(table, $"bad userinfo for {name}: \"{value}\" (uid:gid:/home)");
        return new SystemUser(name.ToLowerInvariant(), uid, gid, parts[2], "/bin/sh");
    }
}
