using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Smtpd.Config;

namespace Smtpd.Smtp.Tls;

/// <summary>
/// Everything a listener needs to run the server side of a TLS handshake, loaded once at start
/// (and by <c>smtpd -n</c>): its certificates, protocol and cipher policy, client verification.
/// With several <c>pki</c>, the client's SNI name picks the certificate (by pki name, then by
/// the names in the certificate); the first is the default.
/// </summary>
public sealed class ServerTls
{
    readonly List<(string Name, SslStreamCertificateContext Context, X509Certificate2 Leaf)> _certificates = [];
    readonly SslProtocols _protocols;
    readonly CipherSuitesPolicy? _ciphers;
    readonly bool _verifyClient;
    readonly X509Certificate2Collection? _trustedCas;

    ServerTls(SslProtocols protocols, CipherSuitesPolicy? ciphers, bool verifyClient, X509Certificate2Collection? cas)
    {
        _protocols = protocols;
        _ciphers = ciphers;
        _verifyClient = verifyClient;
        _trustedCas = cas;
    }

    /// <summary>Loads the TLS setup of a listener, or returns null when it offers no TLS.</summary>
    /// <param name="files">Where certificates, keys and CAs are read from; null: the disk.</param>
    public static ServerTls? Load(Ruleset ruleset, ListenerConfig listener, ListenerSecurity security, ConfigFiles? files = null)
    {
        files ??= ConfigFiles.Disk;
        if (!security.OffersTls) return null;
        var at = listener.Location;
        var tls = new ServerTls(
            TlsProtocols.Parse(security.Protocols, at),
            TlsProtocols.ParseCiphers(security.Ciphers, at),
            security.VerifyClient,
            security.CaName is null ? null : LoadCa(ruleset, security.CaName, at, files));

        foreach (var (name, cert) in Certificates(ruleset, listener, security, files))
            tls._certificates.Add((name, SslStreamCertificateContext.Create(cert.Leaf, cert.Intermediates, offline: true), cert.Leaf));
        return tls;
    }

    static IEnumerable<(string Name, SslCertificate Certificate)> Certificates(Ruleset ruleset, ListenerConfig listener, ListenerSecurity security,
        ConfigFiles files)
    {
        var at = listener.Location;
        if (security.SeedCertificate is { } seed)
        {
            var (cert, key) = CertificateFiles.ForSeedName(seed, ruleset.CertificateDirectory);
            yield return (seed, CertificateLoader.Load(cert, key, at, files));
            yield break;
        }

        var names = security.PkiNames.ToList();
        if (names.Count == 0)
        {
            // As OpenSMTPD: the pki named after the listener's (or the server's) hostname;
            // failing that, the only pki there is.
            string host = listener.Hostname ?? ruleset.Hostname;
            if (ruleset.Pkis.ContainsKey(host)) names.Add(host);
            else if (ruleset.Pkis.Count == 1) names.Add(ruleset.Pkis.Keys.First());
            else throw new TlsSetupException(at, $"listen on {listener.Interface}: TLS needs a certificate: no pki named {host}; name one with \"pki NAME\"");
        }
        foreach (string name in names)
        {
            var pki = ruleset.Pkis[name];
            if (pki.CertificateFile is null) throw new TlsSetupException(pki.Location, $"pki {name} has no certificate (pki {name} cert \"FILE\")");
            if (pki.KeyFile is null) throw new TlsSetupException(pki.Location, $"pki {name} has no key (pki {name} key \"FILE\")");
            yield return (name, CertificateLoader.Load(pki.CertificateFile, pki.KeyFile, pki.Location, files));
        }
    }

    internal static X509Certificate2Collection LoadCa(Ruleset ruleset, string name, ConfigLocation at, ConfigFiles files)
    {
        var ca = ruleset.Cas[name];
        var collection = new X509Certificate2Collection();
        // What ImportFromPemFile does, with the file read from our source.
        try { collection.ImportFromPem(files.ReadText(ca.CertificateFile)); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new TlsSetupException(ca.Location, $"{ca.CertificateFile}: cannot load CA certificate: {ex.Message}");
        }
        if (collection.Count == 0) throw new TlsSetupException(at, $"{ca.CertificateFile}: no certificate in file");
        return collection;
    }

    /// <summary>The options for one handshake; <paramref name="serverName"/> is the client's SNI, if any.</summary>
    public SslServerAuthenticationOptions OptionsFor(string? serverName) => new()
    {
        ServerCertificateContext = Select(serverName),
        EnabledSslProtocols = _protocols,
        CipherSuitesPolicy = _ciphers,
        ClientCertificateRequired = _verifyClient,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        RemoteCertificateValidationCallback = ValidateClient,
    };

    SslStreamCertificateContext Select(string? serverName)
    {
        if (!string.IsNullOrEmpty(serverName))
        {
            foreach (var c in _certificates)
                if (string.Equals(c.Name, serverName, StringComparison.OrdinalIgnoreCase)) return c.Context;
            foreach (var c in _certificates)
                if (c.Leaf.MatchesHostname(serverName, allowWildcards: true)) return c.Context;
        }
        return _certificates[0].Context;
    }

    bool ValidateClient(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (!_verifyClient) return true; // we asked for nothing; whatever the client sent is ignored
        if (certificate is null) return false;
        if (_trustedCas is null) return errors == SslPolicyErrors.None;
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_trustedCas);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return custom.Build(new X509Certificate2(certificate));
    }
}
