using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Smtpd.Config;

namespace Smtpd.Smtp.Tls;

/// <summary>
/// Reads a PEM certificate (with its chain) and its private key, checking that they belong
/// together. Every failure names the file, so that <c>smtpd -n</c> can say what is wrong (seed
/// 003: certificate errors used to show only when the daemon started).
/// </summary>
public static class CertificateLoader
{
    /// <param name="files">Where the PEM files are read from; null: the disk.</param>
    public static SslCertificate Load(string certificateFile, string keyFile, ConfigLocation at, ConfigFiles? files = null)
    {
        files ??= ConfigFiles.Disk;
        string certPem = ReadFile(files, certificateFile, "certificate", at);
        string keyPem = ReadFile(files, keyFile, "key", at);

        var chain = new X509Certificate2Collection();
        try { chain.ImportFromPem(certPem); }
        catch (CryptographicException ex) { throw new TlsSetupException(at, $"{certificateFile}: not a PEM certificate: {ex.Message}"); }
        if (chain.Count == 0) throw new TlsSetupException(at, $"{certificateFile}: no certificate in file");

        X509Certificate2 leaf;
        try { leaf = X509Certificate2.CreateFromPem(certPem, keyPem); }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException && ex.Message.Contains("match", StringComparison.OrdinalIgnoreCase))
        {
            throw new TlsSetupException(at, $"{keyFile}: private key does not match certificate {certificateFile}");
        }
        catch (CryptographicException ex)
        {
            throw new TlsSetupException(at, $"{keyFile}: cannot use private key for {certificateFile}: {ex.Message}");
        }
        catch (ArgumentException ex)
        {
            throw new TlsSetupException(at, $"{keyFile}: no private key in file ({ex.Message})");
        }
        // Against today's wall-clock date, as the administrator reads the certificate's.
        if (leaf.NotAfter < TimeProvider.System.GetLocalNow().DateTime)
            throw new TlsSetupException(at, $"{certificateFile}: certificate expired on {leaf.NotAfter:yyyy-MM-dd}");

        var intermediates = new X509Certificate2Collection();
        for (int i = 1; i < chain.Count; i++) intermediates.Add(chain[i]);
        return new SslCertificate(leaf, intermediates);
    }

    static string ReadFile(ConfigFiles files, string path, string what, ConfigLocation at)
    {
        try { return files.ReadText(path); }
        catch (FileNotFoundException) { throw new TlsSetupException(at, $"{path}: cannot open {what} file: No such file"); }
        catch (DirectoryNotFoundException) { throw new TlsSetupException(at, $"{path}: cannot open {what} file: No such file or directory"); }
        catch (UnauthorizedAccessException) { throw new TlsSetupException(at, $"{path}: cannot open {what} file: Permission denied"); }
        catch (IOException ex) { throw new TlsSetupException(at, $"{path}: cannot read {what} file: {ex.Message}"); }
    }
}

/// <summary>A server certificate with its private key and the intermediates sent along with it.</summary>
public sealed record SslCertificate(X509Certificate2 Leaf, X509Certificate2Collection Intermediates);
