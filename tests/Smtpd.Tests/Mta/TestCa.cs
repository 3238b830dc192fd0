using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd.Tests.Mta;

/// <summary>
/// A certificate authority made with openssl at test time, as an admin makes a private one:
/// <c>ca.crt</c> to name in <c>ca NAME cert</c>, certificates it signs for chosen host names,
/// and self-signed ones. PEM files in <see cref="Dir"/>.
/// </summary>
public sealed class TestCa : IDisposable
{
    public string Dir { get; }
    public string CertificateFile => Path.Combine(Dir, "ca.crt");

    public static bool Available => File.Exists("/usr/bin/openssl");

    TestCa(string dir) => Dir = dir;

    public static TestCa Create(string dir)
    {
        Directory.CreateDirectory(dir);
        var ca = new TestCa(dir);
        ca.OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Smtpd Test Relay CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return ca;
    }

    /// <summary>A certificate for <paramref name="dnsName"/> signed by this CA: NAME.crt and NAME.key.</summary>
    public (string Cert, string Key) Issue(string name, string dnsName)
    {
        OpenSsl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", $"{name}.key", "-out", $"{name}.csr", "-subj", $"/CN={dnsName}");
        File.WriteAllText(Path.Combine(Dir, $"{name}.ext"),
            $"subjectAltName=DNS:{dnsName}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
        OpenSsl("x509", "-req", "-in", $"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", $"{name}.crt", "-days", "2", "-extfile", $"{name}.ext");
        return (Path.Combine(Dir, $"{name}.crt"), Path.Combine(Dir, $"{name}.key"));
    }

    /// <summary>
    /// A certificate for <paramref name="dnsName"/> signed by an intermediate CA that this CA
    /// signed, as public CAs issue them: the peer must send the intermediate along.
    /// </summary>
    public ((string Cert, string Key) Leaf, string Intermediate) IssueViaIntermediate(string name, string dnsName)
    {
        OpenSsl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "intermediate.key", "-out", "intermediate.csr", "-subj", "/CN=Smtpd Test Intermediate CA");
        File.WriteAllText(Path.Combine(Dir, "intermediate.ext"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
        OpenSsl("x509", "-req", "-in", "intermediate.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "intermediate.crt", "-days", "2", "-extfile", "intermediate.ext");
        OpenSsl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", $"{name}.key", "-out", $"{name}.csr", "-subj", $"/CN={dnsName}");
        File.WriteAllText(Path.Combine(Dir, $"{name}.ext"),
            $"subjectAltName=DNS:{dnsName}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
        OpenSsl("x509", "-req", "-in", $"{name}.csr", "-CA", "intermediate.crt", "-CAkey", "intermediate.key", "-CAcreateserial",
            "-out", $"{name}.crt", "-days", "2", "-extfile", $"{name}.ext");
        return ((Path.Combine(Dir, $"{name}.crt"), Path.Combine(Dir, $"{name}.key")), Path.Combine(Dir, "intermediate.crt"));
    }

    /// <summary>A self-signed certificate for <paramref name="dnsName"/>: right name, nobody vouching for it.</summary>
    public (string Cert, string Key) SelfSigned(string name, string dnsName)
    {
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", $"{name}.key", "-out", $"{name}.crt", "-days", "2", "-subj", $"/CN={dnsName}",
            "-addext", $"subjectAltName=DNS:{dnsName}");
        return (Path.Combine(Dir, $"{name}.crt"), Path.Combine(Dir, $"{name}.key"));
    }

    /// <summary>A certificate with its key, for an in-test server.</summary>
    public static X509Certificate2 Load((string Cert, string Key) files)
    {
        using var pem = X509Certificate2.CreateFromPemFile(files.Cert, files.Key);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } // best effort: a temp dir
    }

    void OpenSsl(params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/openssl") { WorkingDirectory = Dir, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000)) { p.Kill(); throw new TimeoutException($"openssl {args[0]} did not finish"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"openssl {string.Join(' ', args)}: {stderr.Result}");
    }
}
