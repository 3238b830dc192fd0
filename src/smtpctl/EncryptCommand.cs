using Smtpd.Smtp.Auth;

namespace Smtpd.Ctl;

/// <summary>
/// <c>smtpctl encrypt [string]</c>: prints a crypt hash of the password for a credentials table
/// (<c>user  hash</c>), as OpenSMTPD's smtpctl does. Without an argument the password is read
/// from standard input, so it does not show in the process list or the shell history.
/// </summary>
public static class EncryptCommand
{
    public static int Run(string[] args)
    {
        if (args.Length > 1)
        {
            Console.Error.WriteLine("usage: smtpctl encrypt [string]");
            return 1;
        }
        string? password = args.Length == 1 ? args[0] : Console.In.ReadLine();
        if (password is null)
        {
            Console.Error.WriteLine("smtpctl: encrypt: no password on standard input");
            return 1;
        }
        Console.WriteLine(PasswordCrypt.NewHash(password));
        return 0;
    }
}
