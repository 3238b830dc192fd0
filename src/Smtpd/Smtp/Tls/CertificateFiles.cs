namespace Smtpd.Smtp.Tls;

/// <summary>
/// Where the seed grammar's <c>certificate NAME</c> finds its files. OpenSMTPD of that time
/// read <c>/etc/mail/certs/NAME.crt</c> and the key beside it, <c>NAME.key</c>. We do the same,
/// with <c>SMTPD_CERTDIR</c> to move the directory (tests, unprivileged instances), and also
/// accept a path: <c>certificate "/etc/ssl/mx.crt"</c> takes its key from <c>/etc/ssl/mx.key</c>.
/// </summary>
public static class CertificateFiles
{
    public const string DefaultDirectory = "/etc/mail/certs";

    /// <param name="directory">The ruleset's <see cref="Config.Ruleset.CertificateDirectory"/>.</param>
    public static (string Certificate, string Key) ForSeedName(string name, string directory)
    {
        if (name.Contains('/'))
            return (name, Path.ChangeExtension(name, ".key"));
        return (Path.Combine(directory, name + ".crt"), Path.Combine(directory, name + ".key"));
    }
}
