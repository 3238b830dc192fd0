using Smtpd.Mda;
using Smtpd.Table;

namespace Smtpd.Smtp.Auth;

public enum AuthResult { Ok, Failed, TempFail }

/// <summary>
/// Checks a user name and password (OpenSMTPD's lka_authenticate): against a credentials table
/// (<c>auth &lt;table&gt;</c>; values are a crypt hash, or <c>user:hash</c>) or, with plain
/// <c>auth</c>, against the system's users. A table or database that cannot be read is a
/// temporary failure, never a refusal.
/// </summary>
/// <param name="systemCheck">Checks a system user's password elsewhere (the privileged helper,
/// when the daemon gave up root); by default here, which needs root.</param>
public sealed class Authenticator(TableSet tables, Authenticator.SystemCheck? systemCheck = null)
{
    public delegate ValueTask<(AuthResult Result, string? Problem)> SystemCheck(string user, string password, CancellationToken ct);

    public async ValueTask<(AuthResult Result, string? Problem)> CheckAsync(string? tableName, string user, string password, CancellationToken ct = default)
    {
        if (tableName is null && systemCheck is not null) return await systemCheck(user, password, ct);
        try
        {
            string? hash = tableName is null ? SystemHash(user) : await TableHashAsync(tableName, user, ct);
            // Hashing costs CPU on purpose (bcrypt, sha512-crypt): on a pool thread, not on the session's.
            bool ok = hash is not null && await Task.Run(() => PasswordCrypt.Verify(password, hash), ct);
            return (ok ? AuthResult.Ok : AuthResult.Failed, null);
        }
        catch (Exception ex) when (ex is TableTempFailException or UnauthorizedAccessException or IOException or KeyNotFoundException)
        {
            return (AuthResult.TempFail, ex.Message);
        }
    }

    static string? SystemHash(string user)
    {
        if (!LocalUsers.IsRoot) throw new UnauthorizedAccessException("system users can only be checked when smtpd runs as root");
        return ShadowPasswords.HashOf(user);
    }

    async ValueTask<string?> TableHashAsync(string tableName, string user, CancellationToken ct)
    {
        string? value = await tables[tableName].LookupAsync(TableService.Credentials, user, ct);
        if (value is null) return null;
        int colon = value.IndexOf(':');
        return colon < 0 ? value.Trim() : value[(colon + 1)..].Trim();
    }
}
