using System.Security.Cryptography;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter dkim", a milter) ⇄
// Debian's opendkim on a loopback port (signing for example.org, or verifying with the key from
// a dnsmasq on loopback through its libunbound) → fs queue → maildir {dir}/maildirs/USER. The
// signature is checked with python3-dkim (dkimpy); the verdict is opendkim's Authentication-Results.
public sealed class OpendkimTests
{
    const string Opendkim = "/usr/sbin/opendkim";
    /// <summary>Debian's python3, which python3-dkim installs into (a python3 earlier on PATH may be another).</summary>
    const string DebianPython = "/usr/bin/python3";
    static bool HasDkimpy => File.Exists(DebianPython) && File.Exists("/usr/lib/python3/dist-packages/dkim/__init__.py");

    /// <param name="extra">More configuration lines; {dir} is its directory.</param>
    /// <param name="files">Files to write in its directory first (name, text).</param>
    static async Task<MilterDaemon> StartAsync(string mode, string key, string extra = "", params (string Name, string Text)[] files) =>
        await MilterDaemon.StartAsync(Opendkim, (dir, port) =>
        {
            File.WriteAllText(Path.Combine(dir, "key.pem"), key);
            foreach (var (name, text) in files) File.WriteAllText(Path.Combine(dir, name), text);
            File.WriteAllText(Path.Combine(dir, "opendkim.conf"), $"""
                Syslog no
                Mode {mode}
                Domain example.org
                Selector sel
                KeyFile {dir}/key.pem
                RequireSafeKeys false
                Canonicalization relaxed/relaxed
                AuthservID mx.test
                Socket inet:{port}@127.0.0.1
                PidFile {dir}/opendkim.pid
                {extra.Replace("{dir}", dir)}
                """);
            return ["-f", "-x", Path.Combine(dir, "opendkim.conf")];
        });

    static SmtpdInstance Smtpd(MilterDaemon opendkim) => new($"""
        filter "dkim" milter "{opendkim.Address}"
        listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "dkim"
        action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
        match from local for local action "local"
        """);

    const string Message = "From: Alice <alice@example.org>\r\nTo: someone@localhost\r\nSubject: through opendkim\r\n" +
        "Date: Wed, 02 Dec 2026 12:00:00 +0000\r\nMessage-ID: <opendkim@example.org>\r\n\r\nHello,\r\n..a dotted line\r\nBye.";

    /// <summary>dkimpy's verdict on a stored message, the key given for sel._domainkey.example.org.</summary>
    static async Task<string> DkimpyAsync(string file, string record)
    {
        const string script = """
            import sys, dkim
            msg = open(sys.argv[1], 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
            def dns(name, timeout=5):
                assert name == b'sel._domainkey.example.org.', name
                return sys.argv[2].encode()
            print('pass' if dkim.verify(msg, dnsfunc=dns) else 'fail')
            """;
        var (code, output) = await ExternalTool.RunAsync(DebianPython, ["-c", script, file, record]);
        Assert.True(code == 0, output);
        return output.Trim();
    }

    [SkippableFact]
    public async Task OpendkimSignsMailGoingThroughUs()
    {
        MilterDaemon.Require(Opendkim, "opendkim");
        Skip.IfNot(HasDkimpy, "python3-dkim (dkimpy) is missing");
        using var rsa = RSA.Create(2048);
        await using var opendkim = await StartAsync("s", rsa.ExportRSAPrivateKeyPem());
        await using var smtpd = Smtpd(opendkim);
        await smtpd.StartAsync();
        await using (var c = await MilterTests.ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await MilterTests.SendAsync(c, $"{MilterTests.Me}@localhost", Message));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        string file = Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, MilterTests.Me), 1, MilterTests.Wait));
        string mail = File.ReadAllText(file);
        Assert.Contains("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;", mail);
        string record = $"v=DKIM1; k=rsa; p={Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo())}";
        Assert.Equal("pass", await DkimpyAsync(file, record));
        // And the check can fail: another key does not verify it.
        using var other = RSA.Create(2048);
        Assert.Equal("fail", await DkimpyAsync(file, $"v=DKIM1; k=rsa; p={Convert.ToBase64String(other.ExportSubjectPublicKeyInfo())}"));
    }

    [SkippableFact]
    public async Task OpendkimVerifiesIncomingMailAndSaysSoInAuthenticationResults()
    {
        MilterDaemon.Require(Opendkim, "opendkim");
        Skip.IfNot(Mta.Dnsmasq.Available, "dnsmasq (dnsmasq-base) serves the key");
        Skip.IfNot(HasDkimpy, "python3-dkim (dkimpy) signs the test mail");
        using var rsa = RSA.Create(1024); // its record fits one TXT string
        string pem = rsa.ExportRSAPrivateKeyPem();
        string record = $"v=DKIM1; k=rsa; p={Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo())}";
        await using var dns = new Mta.Dnsmasq(["example.org"], [$"txt-record=sel._domainkey.example.org,\"{record}\""]);
        // Mail from 127.0.0.1 is not internal here, so it is verified; opendkim's resolver (libunbound) asks the test's dnsmasq only.
        await using var opendkim = await StartAsync("v", pem, "InternalHosts 192.0.2.1\nResolverConfiguration {dir}/unbound.conf",
            ("unbound.conf", $"server:\n  do-not-query-localhost: no\nforward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{dns.Port}\n"));

        await using var smtpd = Smtpd(opendkim);
        await smtpd.StartAsync();
        // Signed as it will be received: without the line the client would dot-stuff.
        string plain = Message.Replace("..a dotted line", "a plain line");
        string signedGood = await SignAsync(plain, pem);
        string signedBad = (await SignAsync(plain.Replace("through opendkim", "checked by opendkim"), pem)).Replace("Bye.", "Bye!");
        await using (var c = await MilterTests.ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await MilterTests.SendAsync(c, $"{MilterTests.Me}@localhost", signedGood));
            Assert.StartsWith("250", await MilterTests.SendAsync(c, $"{MilterTests.Me}@localhost", signedBad));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var mails = (await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, MilterTests.Me), 2, MilterTests.Wait)).Select(File.ReadAllText).ToList();
        string good = Assert.Single(mails, m => m.Contains("Subject: through opendkim"));
        string bad = Assert.Single(mails, m => m.Contains("Subject: checked by opendkim"));
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(good, @"Authentication-Results: mx\.test;\s+dkim=pass"), good + "\n" + opendkim.Output + smtpd.Log);
        Assert.Matches(@"Authentication-Results: mx\.test;\s+dkim=fail", bad);
    }

    /// <summary>The message signed by dkimpy (relaxed/relaxed, d=example.org, s=sel).</summary>
    static async Task<string> SignAsync(string message, string pem)
    {
        string dir = Directory.CreateTempSubdirectory("dkimpy-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "key.pem"), pem);
            File.WriteAllText(Path.Combine(dir, "msg"), message + "\r\n");
            const string script = """
                import sys, dkim
                msg = open(sys.argv[1], 'rb').read()
                sig = dkim.sign(msg, b'sel', b'example.org', open(sys.argv[2], 'rb').read(), canonicalize=(b'relaxed', b'relaxed'))
                open(sys.argv[3], 'wb').write(sig + msg)
                """;
            // Written to a file: the tool's captured output would not keep the empty line after the header.
            var (code, output) = await ExternalTool.RunAsync(DebianPython, ["-c", script, Path.Combine(dir, "msg"), Path.Combine(dir, "key.pem"), Path.Combine(dir, "signed")]);
            Assert.True(code == 0, output);
            return File.ReadAllText(Path.Combine(dir, "signed")).Replace("\r\n", "\n").Replace("\n", "\r\n").TrimEnd('\r', '\n');
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
