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
    public static async ValueTask<SystemUser?> GetAsync(TableSet tables, string table, string name, CancellationToken ct = default)
    {
        string? value = await tables[table].LookupAsync(TableService.UserInfo, name.ToLowerInvariant(), ct);
        if (value is null) return null;
        if (!TableValues.TryParseUserInfo(value, out uint uid, out uint gid, out string home))
            throw new TableTempFailException(table, $"bad userinfo for {name}: \"{value}\" (uid:gid:/home)");
        return new SystemUser(name.ToLowerInvariant(), uid, gid, home, "/bin/sh");
    }
}
