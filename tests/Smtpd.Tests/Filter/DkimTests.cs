using System.Security.Cryptography;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter dkim") → the
// signer (Debian's filter-dkimsign over smtpd-filters(7), or our built-in dkim-sign) → fs queue
// → maildir {dir}/maildirs/USER; the test verifies the stored message with MimeKit's
// DkimVerifier and the public half of a key it generated.
public sealed class DkimTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly string Me = EndToEnd.TestUsers.Recipient;

    const string Message = """
        From: Alice <alice@example.org>
        To: someone@localhost
        Subject: signed on the way
        Date: Wed, 02 Dec 2026 12:00:00 +0000
        Message-ID: <dkim-test@example.org>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=us-ascii

        First line.
        ..A line that starts with a dot (stuffed on the wire)
        Trailing spaces here   
        last line
        """;

    /// <summary>The public key as a DNS TXT record would give it (p= is the SubjectPublicKeyInfo).</summary>
    sealed class KeyLocator(string record) : DkimPublicKeyLocatorBase
    {
        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken ct = default)
        {
            Assert.Equal("example.org", domain);
            Assert.Equal("sel", selector);
            return GetPublicKey(record);
        }

        public override Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken ct = default) =>
            Task.FromResult(LocatePublicKey(methods, domain, selector, ct));
    }

    /// <summary>An RSA key in PEM for the signer, and its DNS record.</summary>
    static (string Pem, string Record) RsaKey()
    {
        using var rsa = RSA.Create(2048);
        return (rsa.ExportPkcs8PrivateKeyPem(), $"v=DKIM1; k=rsa; p={Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo())}");
    }

    static (string Pem, string Record) Ed25519Key()
    {
        var generator = new Ed25519KeyPairGenerator();
        generator.Init(new Ed25519KeyGenerationParameters(new Org.BouncyCastle.Security.SecureRandom()));
        var pair = generator.GenerateKeyPair();
        var sw = new StringWriter();
        var pem = new Org.BouncyCastle.OpenSsl.PemWriter(sw);
        pem.WriteObject(new Org.BouncyCastle.Utilities.IO.Pem.PemObject("PRIVATE KEY",
            Org.BouncyCastle.Pkcs.PrivateKeyInfoFactory.CreatePrivateKeyInfo(pair.Private).GetEncoded()));
        pem.Writer.Flush();
        byte[] pub = ((Ed25519PublicKeyParameters)pair.Public).GetEncoded();
        return (sw.ToString(), $"v=DKIM1; k=ed25519; p={Convert.ToBase64String(pub)}");
    }

    /// <summary>Sends the test message through the filter; returns it as stored, parsed and as text (CRLF).</summary>
    static async Task<(MimeMessage Message, string Stored)> SendAndReadAsync(string filterLine, string pem, string listenerFilter = "dkim")
    {
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        string key = Path.Combine(smtpd.Dir, "dkim.key");
        await File.WriteAllTextAsync(key, pem);
        smtpd.WriteConfig($"""
            {filterLine.Replace("KEY", key)}
            listen on 127.0.0.1 port {"{port}"} filter "{listenerFilter}"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """.Replace("REPORTS", Path.Combine(smtpd.Maildirs, "reports.log")));
        await smtpd.StartAsync();
        await SubmitAsync(smtpd.Port, $"{Me}@localhost");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Dir, "maildirs", Me), 1, Wait);
        // Maildir keeps LF line ends; the signature is over the message as sent (CRLF).
        string stored = (await File.ReadAllTextAsync(Assert.Single(files))).ReplaceLineEndings("\r\n");
        return (MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(stored))), stored);
    }

    static async Task SubmitAsync(int port, string rcpt)
    {
        await using var c = await SmtpDialogue.ConnectAsync(port);
        Assert.StartsWith("220", await c.ReadReplyAsync());
        Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
        Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{rcpt}>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        Assert.StartsWith("250", await c.CommandAsync(Message.ReplaceLineEndings("\r\n") + "\r\n."));
        Assert.StartsWith("221", await c.CommandAsync("QUIT"));
    }

    /// <summary>A second, independent verifier: Debian's python3-dkim (dkimpy), the DNS answer given.</summary>
    static async Task AssertDkimpyVerifiesAsync(string stored, string record)
    {
        FilterPeers.Require("/usr/lib/python3/dist-packages/dkim/__init__.py", "Debian's python3-dkim verifies independently of MimeKit");
        const string script = """
            import sys, dkim, logging
            logging.basicConfig(level=logging.INFO)
            record = sys.argv[1].encode()
            message = sys.stdin.buffer.read()
            print("verified" if dkim.verify(message, logger=logging.getLogger("dkim"), dnsfunc=lambda name, timeout=5: record) else "failed")
            """;
        var (code, output) = await ExternalTool.RunAsync("/usr/bin/python3", ["-c", script, record], stdin: stored);
        Assert.True(code == 0 && output.TrimEnd().EndsWith("verified", StringComparison.Ordinal) && !output.Contains("failed"), output);
    }

    static async Task AssertVerifiesAsync(MimeMessage message, string record, string algorithm)
    {
        int index = message.Headers.IndexOf(HeaderId.DkimSignature);
        Assert.True(index >= 0, "no DKIM-Signature header:\n" + message.Headers);
        string signature = message.Headers[index].Value;
        Assert.Contains($"a={algorithm}", signature);
        Assert.Contains("d=example.org", signature);
        Assert.Contains("s=sel", signature);
        var verifier = new DkimVerifier(new KeyLocator(record));
        verifier.Enable(DkimSignatureAlgorithm.Ed25519Sha256);
        Assert.True(await verifier.VerifyAsync(message, message.Headers[index]), "the signature does not verify:\n" + signature);

        // And it would not verify a changed message: the check above can fail.
        message.Subject = "changed on the way";
        Assert.False(await verifier.VerifyAsync(message, message.Headers[index]));
    }

    [Fact]
    public async Task DebiansFilterDkimsignSignsWhatWeStore()
    {
        FilterPeers.Require(FilterPeers.DkimSign, "Debian's opensmtpd-filter-dkimsign");
        var (pem, record) = RsaKey();
        var (message, stored) = await SendAndReadAsync($"filter \"dkim\" proc-exec \"{FilterPeers.DkimSign} -d example.org -s sel -k KEY\"", pem);
        await AssertVerifiesAsync(message, record, "rsa-sha256");
        await AssertDkimpyVerifiesAsync(stored, record);
        Assert.StartsWith(".A line", (message.TextBody ?? "").Replace("\r\n", "\n").Split('\n')[1]); // un-stuffed once, not twice
    }

    [Fact]
    public async Task DebiansFilterDkimsignSignsWhatWeRelay()
    {
        // Path: SmtpDialogue → smtpd (listener "filter dkim", Debian's filter-dkimsign) → fs queue →
        // our MTA → "relay host smtp://127.0.0.1:PEER" → Postfix's smtp-sink, which dumps what it
        // received; the dump is verified, as the next hop's verifier would see it.
        FilterPeers.Require(FilterPeers.DkimSign, "Debian's opensmtpd-filter-dkimsign");
        FilterPeers.Require(Mta.SmtpSink.Program, "Postfix's smtp-sink receives the relayed copy");
        var (pem, record) = RsaKey();
        int peerPort = SmtpdInstance.FreePort();
        await using var sink = new Mta.SmtpSink("127.0.0.1", peerPort);
        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        string key = Path.Combine(smtpd.Dir, "dkim.key");
        await File.WriteAllTextAsync(key, pem);
        smtpd.WriteConfig($$"""
            filter "dkim" proc-exec "{{FilterPeers.DkimSign}} -d example.org -s sel -k {{key}}"
            listen on 127.0.0.1 port {port} filter "dkim"
            action "out" relay host smtp://127.0.0.1:{{peerPort}}
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await SubmitAsync(smtpd.Port, "bob@far.example");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Wait);
        Assert.Matches(@"mta delivery evpid=\S+ from=<alice@example.org> to=<bob@far.example> .* result=""Ok""", smtpd.Log);

        // smtp-sink prepends its X-Client-Addr/X-Mail-Args... lines, then the message as it came.
        string dumped = await File.ReadAllTextAsync(Assert.Single(sink.Messages));
        Assert.Contains("X-Rcpt-Args: <bob@far.example>", dumped);
        string received = dumped.ReplaceLineEndings("\r\n");
        var message = MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(received)));
        await AssertVerifiesAsync(message, record, "rsa-sha256");
        await AssertDkimpyVerifiesAsync(received, record);
        Assert.StartsWith(".A line", (message.TextBody ?? "").Replace("\r\n", "\n").Split('\n')[1]); // un-stuffed once, not twice
    }

    [Fact]
    public async Task BuiltinDkimSignRsa()
    {
        var (pem, record) = RsaKey();
        var (message, stored) = await SendAndReadAsync("filter \"dkim\" dkim-sign domain example.org selector sel key \"KEY\"", pem);
        await AssertVerifiesAsync(message, record, "rsa-sha256");
        await AssertDkimpyVerifiesAsync(stored, record);
        string signature = message.Headers[HeaderId.DkimSignature] ?? "";
        Assert.Contains("c=relaxed/relaxed", signature);
        Assert.Matches(@"(?i)h=[^;]*\bfrom\b[^;]*\bsubject\b", signature.Replace(" ", ""));
    }

    [Fact]
    public async Task BuiltinDkimSignEd25519()
    {
        var (pem, record) = Ed25519Key();
        var (message, stored) = await SendAndReadAsync("filter \"dkim\" dkim-sign domain example.org selector sel key \"KEY\" algorithm ed25519-sha256", pem);
        await AssertVerifiesAsync(message, record, "ed25519-sha256");
        await AssertDkimpyVerifiesAsync(stored, record);
    }

    [Fact]
    public async Task ConfigCheckNamesAMissingOrUnusableKey()
    {
        await using var smtpd = new SmtpdInstance();
        File.WriteAllText(Path.Combine(smtpd.Dir, "garbage.key"), "not a key\n");
        foreach (var (key, says) in new[] { ("missing.key", "does not exist"), ("garbage.key", "cannot use DKIM key") })
        {
            smtpd.WriteConfig($"""
                filter "dkim" dkim-sign domain example.org selector sel key "{"{dir}"}/{key}"
                listen on 127.0.0.1 port {"{port}"} filter "dkim"
                action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
                match from local for local action "local"
                """);
            var (code, _, stderr) = await SmtpdInstance.RunAsync("-n", "-f", smtpd.ConfigPath);
            Assert.Equal(1, code);
            Assert.Contains($"filter dkim: ", stderr);
            Assert.Contains(says, stderr);
            Assert.Contains(key, stderr);
        }
    }

    [Fact]
    public async Task AChainStreamsTheMessageThroughEachFilterInTurn()
    {
        // test-filter.py adds a header, then our signer signs what it gave back, so the signature
        // sits on top and covers the message as stored.
        FilterPeers.Require("python3", "runs the test filter");
        var (pem, record) = RsaKey();
        var (message, stored) = await SendAndReadAsync($"""
            filter "py" proc-exec "python3 {FilterPeers.TestFilter} REPORTS"
            filter "sign" dkim-sign domain example.org selector sel key "KEY" headers "From:Subject:X-Test-Filter"
            filter "both" chain {"{"} "py", "sign" {"}"}
            """, pem, listenerFilter: "both");
        await AssertVerifiesAsync(message, record, "rsa-sha256");
        var names = message.Headers.Select(h => h.Field).ToList();
        Assert.True(names.IndexOf("DKIM-Signature") < names.IndexOf("X-Test-Filter"), string.Join(", ", names));
        Assert.Contains("x-test-filter", message.Headers[HeaderId.DkimSignature]!.ToLowerInvariant());
    }
}
