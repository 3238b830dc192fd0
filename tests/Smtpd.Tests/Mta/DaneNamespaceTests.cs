using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

// DANE (RFC 7672) as on a real mail server: each test makes a network namespace whose
// resolv.conf names 127.0.0.1, where Unbound validates DNSSEC for zones NSD serves signed with
// ldns-signzone. Our relaying smtpd runs inside with no SMTPD_RESOLVER, and a second smtpd of
// ours is the receiving MX, one listener (address and certificate) per MX host.
public sealed class DaneNamespaceTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    internal static void SkipUnlessPeers()
    {
        Skip.If(NetworkNamespace.Unavailable is not null, NetworkNamespace.Unavailable);
        Skip.If(SignedDns.Unavailable is not null, SignedDns.Unavailable);
        Skip.IfNot(TestCa.Available, "openssl is not installed");
    }

    /// <summary>"3 1 1 HEX": DANE-EE, the certificate's public key, SHA-256.</summary>
    static string EeSpkiSha256(string certFile)
    {
        using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(certFile));
        return $"3 1 1 {Convert.ToHexString(SHA256.HashData(cert.PublicKey.ExportSubjectPublicKeyInfo()))}";
    }

    /// <summary>"2 0 1 HEX": DANE-TA, a whole CA certificate, SHA-256.</summary>
    static string TaCertSha256(string certFile)
    {
        using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(certFile));
        return $"2 0 1 {Convert.ToHexString(SHA256.HashData(cert.RawData))}";
    }

    /// <summary>The receiving MX: a listener with STARTTLS per (address, certificate) on port 25.</summary>
    internal static Task<SmtpdInstance> ReceiverAsync(NetworkNamespace ns, params (string Address, string Name, (string Cert, string Key) Files)[] listeners) =>
        ReceiverAsync(ns, [], listeners);

    /// <summary>The same, and a listener without STARTTLS on each of <paramref name="plain"/>.</summary>
    internal static async Task<SmtpdInstance> ReceiverAsync(NetworkNamespace ns, IReadOnlyList<string> plain, params (string Address, string Name, (string Cert, string Key) Files)[] listeners)
    {
        var peer = new SmtpdInstance(port: 25);
        peer.Wrapper.AddRange(ns.Enter);
        string pkis = string.Concat(listeners.Select(l => $"pki {l.Name} cert \"{l.Files.Cert}\"\npki {l.Name} key \"{l.Files.Key}\"\n"));
        string listens = string.Concat(listeners.Select(l => $"listen on {l.Address} port 25 tls pki {l.Name}\n"))
            + string.Concat(plain.Select(address => $"listen on {address} port 25\n"));
        peer.WriteConfig(pkis + listens + """
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for any action "local"
            """);
        await peer.StartAsync();
        return peer;
    }

    /// <param name="caFile">The roots it trusts instead of the system's (SSL_CERT_FILE), for certificates a test CA issued.</param>
    internal static async Task<SmtpdInstance> RelayerAsync(NetworkNamespace ns, string globals = "", string? caFile = null, IDictionary<string, string>? environment = null)
    {
        var smtpd = new SmtpdInstance($$"""
            {{globals}}
            listen on 127.0.0.1 port {port}
            action "out" relay
            match from local for any action "out"
            """);
        smtpd.Wrapper.AddRange(ns.Enter);
        smtpd.Environment.Remove("SMTPD_RESOLVER");
        smtpd.Environment["SMTPD_MTA_TIMEOUT"] = "5";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) smtpd.Environment[key] = value;
        if (caFile is not null)
        {
            // In the daemon's directory: the user it becomes must read it.
            string copy = Path.Combine(smtpd.Dir, "roots.crt");
            File.Copy(caFile, copy);
            File.SetUnixFileMode(copy, (UnixFileMode)0b110_100_100);
            smtpd.Environment["SSL_CERT_FILE"] = copy;
        }
        await smtpd.StartAsync();
        return smtpd;
    }

    internal static async Task SendAsync(NetworkNamespace ns, SmtpdInstance smtpd, string to, string subject)
    {
        await using var d = SmtpDialogue.Over(await ns.ConnectAsync(new IPEndPoint(IPAddress.Loopback, smtpd.Port)));
        Assert.StartsWith("220", await d.ReadReplyAsync());
        Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{to}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\n\r\nbody of {subject}\r\n."));
        await d.CommandAsync("QUIT");
    }

    /// <summary>The relayer's delivery line for a recipient (waits for it).</summary>
    internal static async Task<string> DeliveryLineAsync(SmtpdInstance smtpd, string to)
    {
        await smtpd.WaitForLogAsync($"to=<{to}>", Timeout);
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            string? line = smtpd.Log.Split('\n').FirstOrDefault(l => l.Contains(" mta delivery ") && l.Contains($"to=<{to}>"));
            if (line is not null) return line;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no delivery line for {to}:\n{smtpd.Log}");
            await Task.Delay(100);
        }
    }

    [SkippableFact]
    public async Task Matching_tlsa_delivers_with_dane_a_mismatch_stays_queued_and_an_unsigned_zone_falls_back()
    {
        // alice -> smtpd (in the namespace; resolv.conf: Unbound on 127.0.0.1, validating)
        //   good.dane.test  MX mx1 = 127.0.0.2:25, TLSA 3 1 1 = mx1's key  -> delivered, tls=dane
        //   ta.dane.test    MX mx2 = 127.0.0.3:25, TLSA 2 0 1 = its issuing intermediate -> delivered, tls=dane
        //   bad.dane.test   MX mx3 = 127.0.0.4:25, TLSA 3 1 1 = another key -> 4xx, stays queued
        //   plain.test (unsigned) MX mx.plain.test = 127.0.0.5:25, TLSA not matching -> opportunistic, delivered
        //   cross.dane.test: a validated MX naming mx.plain.test, whose records are not validated -> no DANE, delivered
        // All four MX hosts are listeners of one receiving smtpd of ours.
        SkipUnlessPeers();
        using var ca = TestCa.Create(Directory.CreateTempSubdirectory("dane-ca-").FullName);
        var mx1 = ca.Issue("mx1", "mx1.dane.test");
        var (mx2, intermediate) = ca.IssueViaIntermediate("mx2", "mx2.dane.test");
        File.WriteAllText(mx2.Cert, File.ReadAllText(mx2.Cert) + File.ReadAllText(intermediate)); // the chain the peer sends
        var mx3 = ca.Issue("mx3", "mx3.dane.test");
        var other = ca.Issue("other", "mx3.dane.test");
        var plain = ca.SelfSigned("plain", "mx.plain.test");

        await using var ns = await NetworkNamespace.CreateAsync(SignedDns.ResolvConf);
        await using var dns = await SignedDns.StartAsync(ns,
            new SignedDns.Zone("dane.test", [
                "good IN MX 10 mx1.dane.test.", "mx1 IN A 127.0.0.2", $"_25._tcp.mx1 IN TLSA {EeSpkiSha256(mx1.Cert)}",
                "ta IN MX 10 mx2.dane.test.", "mx2 IN A 127.0.0.3", $"_25._tcp.mx2 IN TLSA {TaCertSha256(intermediate)}",
                "bad IN MX 10 mx3.dane.test.", "mx3 IN A 127.0.0.4", $"_25._tcp.mx3 IN TLSA {EeSpkiSha256(other.Cert)}",
                "cross IN MX 10 mx.plain.test.",
            ]),
            // A TLSA record nothing matches, in a zone nobody signed: not to be trusted, so ignored.
            new SignedDns.Zone("plain.test", ["@ IN MX 10 mx.plain.test.", "mx IN A 127.0.0.5", $"_25._tcp.mx IN TLSA {EeSpkiSha256(other.Cert)}"], Signed: false));
        await using var peer = await ReceiverAsync(ns, ("127.0.0.2", "mx1", mx1), ("127.0.0.3", "mx2", mx2), ("127.0.0.4", "mx3", mx3), ("127.0.0.5", "plain", plain));
        await using var smtpd = await RelayerAsync(ns);
        string user = TestUsers.Recipient;

        await SendAsync(ns, smtpd, $"{user}@good.dane.test", "dane ee");
        await SendAsync(ns, smtpd, $"{user}@ta.dane.test", "dane ta");
        await SendAsync(ns, smtpd, $"{user}@bad.dane.test", "dane mismatch");
        await SendAsync(ns, smtpd, $"{user}@plain.test", "unsigned");
        await SendAsync(ns, smtpd, $"{user}@cross.dane.test", "insecure address");

        string good = await DeliveryLineAsync(smtpd, $"{user}@good.dane.test");
        Assert.Contains("relay=\"mx1.dane.test [127.0.0.2]\" tls=dane ", good);
        Assert.Contains("result=\"Ok\"", good);
        string ta = await DeliveryLineAsync(smtpd, $"{user}@ta.dane.test");
        Assert.Contains("tls=dane ", ta);
        Assert.Contains("result=\"Ok\"", ta);
        string bad = await DeliveryLineAsync(smtpd, $"{user}@bad.dane.test");
        Assert.Contains("result=\"TempFail\"", bad);
        Assert.Contains("DANE: no TLSA record of mx3.dane.test matches the certificate", bad);
        string unsigned = await DeliveryLineAsync(smtpd, $"{user}@plain.test");
        Assert.Contains("tls=unverified ", unsigned); // STARTTLS taken, a self-signed certificate: opportunistic
        Assert.Contains("result=\"Ok\"", unsigned);

        // A validated MX record is not enough: the MX host's own records (address, TLSA) are in
        // an unsigned zone, so its non-matching TLSA record is not trusted.
        string cross = await DeliveryLineAsync(smtpd, $"{user}@cross.dane.test");
        Assert.Contains("tls=unverified ", cross);
        Assert.Contains("result=\"Ok\"", cross);

        // Delivered: four messages in the peer's maildir, none from the mismatched MX.
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, user), 4, Timeout);
        var bodies = await Task.WhenAll(files.Select(f => File.ReadAllTextAsync(f)));
        Assert.DoesNotContain(bodies, b => b.Contains("body of dane mismatch"));
        Assert.Contains(bodies, b => b.Contains("body of dane ee"));

        // The mismatched one waits in the queue, the reason its last error (show envelope).
        var queued = Assert.Single(await Smtpctl.PendingQueueAsync(smtpd));
        Assert.Equal($"{user}@bad.dane.test", queued[5]);
        var (code, envelope) = await Smtpctl.RunAsync(smtpd, "show", "envelope", queued[0]);
        Assert.Equal(0, code);
        Assert.Contains("errorline: ", envelope);
        Assert.Contains("DANE: no TLSA record of mx3.dane.test matches the certificate", envelope);

        // What an administrator asks: the policy and where it came from.
        (code, string shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "good.dane.test");
        Assert.Equal(0, code);
        Assert.Contains("domain=good.dane.test policy=dane source=\"DNS\"", shown);
        Assert.Contains($"mx=mx1.dane.test tlsa=\"{EeSpkiSha256(mx1.Cert)[..22].ToLowerInvariant()}", shown);
        (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "plain.test");
        Assert.Equal(0, code);
        Assert.Contains("domain=plain.test policy=opportunistic source=\"DNS\"", shown);
        Assert.Contains("not DNSSEC-validated", shown);
    }

    [SkippableFact]
    public async Task The_local_table_overrides_what_the_dns_publishes()
    {
        // alice -> smtpd with "tls-policy <policies>":
        //   good.dane.test  none       (the zone publishes a matching TLSA) -> plain text, tls=none
        //   plain.test      dane-only  (unsigned zone)                      -> 4xx, stays queued
        //   other.test      (not in the table; tls-policy default encrypt)  -> TLS, unverified
        SkipUnlessPeers();
        using var ca = TestCa.Create(Directory.CreateTempSubdirectory("dane-ca-").FullName);
        var mx1 = ca.Issue("mx1", "mx1.dane.test");
        var plain = ca.SelfSigned("plain", "mx.plain.test");
        await using var ns = await NetworkNamespace.CreateAsync(SignedDns.ResolvConf);
        await using var dns = await SignedDns.StartAsync(ns,
            new SignedDns.Zone("dane.test", ["good IN MX 10 mx1.dane.test.", "mx1 IN A 127.0.0.2", $"_25._tcp.mx1 IN TLSA {EeSpkiSha256(mx1.Cert)}"]),
            new SignedDns.Zone("plain.test", ["@ IN MX 10 mx.plain.test.", "mx IN A 127.0.0.5"], Signed: false),
            new SignedDns.Zone("other.test", ["@ IN MX 10 mx.plain.test."], Signed: false));
        await using var peer = await ReceiverAsync(ns, ("127.0.0.2", "mx1", mx1), ("127.0.0.5", "plain", plain));
        await using var smtpd = await RelayerAsync(ns, """
            table policies { good.dane.test = none, plain.test = dane-only }
            tls-policy <policies>
            tls-policy default encrypt
            """);
        string user = TestUsers.Recipient;

        await SendAsync(ns, smtpd, $"{user}@good.dane.test", "forced plain");
        await SendAsync(ns, smtpd, $"{user}@plain.test", "dane only");
        await SendAsync(ns, smtpd, $"{user}@other.test", "encrypt");

        string good = await DeliveryLineAsync(smtpd, $"{user}@good.dane.test");
        Assert.Contains("tls=none ", good);
        Assert.Contains("result=\"Ok\"", good);
        string daneOnly = await DeliveryLineAsync(smtpd, $"{user}@plain.test");
        Assert.Contains("tls=- ", daneOnly); // no session was opened
        Assert.Contains("result=\"TempFail\" stat=\"dane-only: no DANE", daneOnly);
        string encrypt = await DeliveryLineAsync(smtpd, $"{user}@other.test");
        Assert.Contains("tls=unverified ", encrypt);
        Assert.Contains("result=\"Ok\"", encrypt);
        Assert.Equal($"{user}@plain.test", Assert.Single(await Smtpctl.PendingQueueAsync(smtpd))[5]);

        var (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "good.dane.test");
        Assert.Equal(0, code);
        Assert.Contains("domain=good.dane.test policy=none source=\"local table\" detail=\"table policies: good.dane.test none\"", shown);
        (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "other.test");
        Assert.Contains("domain=other.test policy=encrypt source=\"local default\"", shown);
        (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "bad!domain");
        Assert.Equal(1, code);
        Assert.Contains("smtpctl: invalid domain: bad!domain", shown);
    }

    [SkippableFact]
    public async Task A_secure_tlsa_set_with_no_usable_record_still_requires_tls()
    {
        // RFC 7672 2.2: a validated TLSA set whose records are all unusable for SMTP (here
        // PKIX-EE(1) and PKIX-TA(0), which SMTP clients do not use) authenticates nothing, but
        // the domain has still asked for TLS: no plain-text fallback (Postfix: "encrypt").
        //   pkix.dane.test    MX mx4 = 127.0.0.6:25, TLSA 1 1 1, STARTTLS (self-signed) -> delivered, tls=unverified
        //   notls.dane.test   MX mx5 = 127.0.0.7:25, TLSA 0 0 1, no STARTTLS            -> 4xx, stays queued
        SkipUnlessPeers();
        using var ca = TestCa.Create(Directory.CreateTempSubdirectory("dane-ca-").FullName);
        var mx4 = ca.SelfSigned("mx4", "mx4.dane.test");
        string pkixEe = "1" + EeSpkiSha256(mx4.Cert)[1..];
        await using var ns = await NetworkNamespace.CreateAsync(SignedDns.ResolvConf);
        await using var dns = await SignedDns.StartAsync(ns,
            new SignedDns.Zone("dane.test", [
                "pkix IN MX 10 mx4.dane.test.", "mx4 IN A 127.0.0.6", $"_25._tcp.mx4 IN TLSA {pkixEe}",
                "notls IN MX 10 mx5.dane.test.", "mx5 IN A 127.0.0.7", $"_25._tcp.mx5 IN TLSA 0 0 1 {new string('a', 64)}",
            ]));
        await using var peer = await ReceiverAsync(ns, ["127.0.0.7"], ("127.0.0.6", "mx4", mx4));
        await using var smtpd = await RelayerAsync(ns);
        string user = TestUsers.Recipient;

        await SendAsync(ns, smtpd, $"{user}@pkix.dane.test", "unusable tlsa");
        await SendAsync(ns, smtpd, $"{user}@notls.dane.test", "no starttls");

        string pkix = await DeliveryLineAsync(smtpd, $"{user}@pkix.dane.test");
        Assert.Contains("tls=unverified ", pkix);
        Assert.Contains("result=\"Ok\"", pkix);
        string notls = await DeliveryLineAsync(smtpd, $"{user}@notls.dane.test");
        Assert.Contains("result=\"TempFail\"", notls);
        Assert.Contains("TLS required but not offered by the server", notls);
        Assert.Equal($"{user}@notls.dane.test", Assert.Single(await Smtpctl.PendingQueueAsync(smtpd))[5]);
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(peer.Maildirs, user), 1, Timeout);
        Assert.Contains("body of unusable tlsa", await File.ReadAllTextAsync(Assert.Single(files)));

        var (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "notls.dane.test");
        Assert.Equal(0, code);
        Assert.Contains("mx=mx5.dane.test tlsa=\"no usable record: encrypt\"", shown);
    }
}
