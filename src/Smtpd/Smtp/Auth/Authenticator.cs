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
    public delegate AuthResult SystemCheck(string user, string password, out string? problem);

    public AuthResult Check(string? tableName, string user, string password, out string? problem)
    {
        problem = null;
        if (tableName is null && systemCheck is not null) return systemCheck(user, password, out problem);
        try
        {
            string? hash = tableName is null ? SystemHash(user) : TableHash(tableName, user);
            return hash is not null && PasswordCrypt.Verify(password, hash) ? AuthResult.Ok : AuthResult.Failed;
        }
        catch (Exception ex) when (ex is TableTempFailException or UnauthorizedAccessException or IOException or KeyNotFoundException)
        {
            problem = ex.Message;
            return AuthResult.TempFail;
        }
    }

    static string? SystemHash(string user)
    {
        if (!LocalUsers.IsRoot) throw new UnauthorizedAccessException("system users can only be checked when smtpd runs as root");
        return ShadowPasswords.HashOf(user);
    }

    string? TableHash(string tableName, string user)
    {
        string? value = tables[tableName].Lookup(TableService.Credentials, user);
        if (value is null) return null;
        int colon = value.IndexOf(':');
        return colon < 0 ? value.Trim() : value[(colon + 1)..].Trim();
    }
}
