using System.Security.Cryptography.X509Certificates;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

// Smarthosts over TLS whose certificates are checked: alice -> us -> relay.example, an in-test
// server (ScriptedPeer) doing real STARTTLS or smtps with a certificate made by openssl at test
// time. relay.example is found through a real DNS server (dnsmasq).
public sealed class RelayTlsTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    const string Host = "relay.example";

    /// <summary>Our smtpd with a <c>ca</c> named "testca" and the given actions and matches.</summary>
    static async Task<SmtpdInstance> RelayerAsync(Dnsmasq dns, TestCa ca, string actions)
    {
        var smtpd = new SmtpdInstance();
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        smtpd.Environment["SMTPD_MTA_TIMEOUT"] = "5";
        File.WriteAllText(Path.Combine(smtpd.Dir, "secrets"), "label   alice:wonderland\n");
        smtpd.WriteConfig($$"""
            ca testca cert "{{ca.CertificateFile}}"
            table secrets file:{dir}/secrets
            listen on 127.0.0.1 port {port}
            {{actions}}
            """);
        await smtpd.StartAsync();
        return smtpd;
    }

    static Dnsmasq RelayDns() => new(["example"], [$"host-record={Host},127.0.0.1"]);

    static void SkipUnlessPeers()
    {
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed (tests/install-peers.sh)");
        Skip.IfNot(TestCa.Available, "openssl is not installed");
    }

    static TestCa NewCa() => TestCa.Create(Directory.CreateTempSubdirectory("relay-ca-").FullName);

    static async Task SendAsync(int port, string to, string subject)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{to}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\n\r\nbody of {subject}\r\n."));
        await d.CommandAsync("QUIT");
    }

    /// <summary>A peer offering STARTTLS (or speaking smtps) with the given certificate.</summary>
    static ScriptedPeer TlsPeer((string, string) certificate, bool smtps = false, string? login = null) => new ScriptedPeer
    {
        Extensions = login is null ? ["PIPELINING", "STARTTLS"] : ["PIPELINING", "STARTTLS", "AUTH LOGIN"],
        StartTlsReply = "220 2.0.0 Ready to start TLS",
        Smtps = smtps,
        TlsCertificate = TestCa.Load(certificate),
        Login = login,
    }.Start();

    /// <summary>The mail waits in our queue (smtpctl show queue lists it) and the peer got no transaction.</summary>
    static async Task AssertKeptAsync(SmtpdInstance smtpd, ScriptedPeer peer, string recipient, string reason = "")
    {
        Assert.Empty(peer.Messages);
        Assert.Equal(0, peer.Count("MAIL"));
        Assert.DoesNotContain("result=\"Ok\"", smtpd.Log);
        Assert.DoesNotContain("result=\"PermFail\"", smtpd.Log);
        await AssertQueuedAsync(smtpd, recipient, reason);
    }

    /// <summary><c>smtpctl show queue</c> lists the recipient's envelope, with the reason as its last error once the scheduler has it.</summary>
    static async Task AssertQueuedAsync(SmtpdInstance smtpd, string recipient, string reason = "")
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string[] lines;
        do
        {
            lines = (await Smtpctl.QueueAsync(smtpd)).Select(l => string.Join('|', l)).ToArray();
            if (lines.Any(l => l.Contains(recipient) && l.Contains(reason))) return;
            await Task.Delay(200);
        } while (DateTime.UtcNow < deadline);
        Assert.Fail($"no queue line for {recipient} with \"{reason}\":\n{string.Join('\n', lines)}");
    }

    [SkippableTheory]
    [InlineData("smtp+tls", false)]
    [InlineData("smtps", true)]
    [InlineData("smtp", false, "tls")] // plain URL, "tls" keyword: as strict
    public async Task A_self_signed_smarthost_is_refused_when_tls_is_required_and_the_mail_stays_queued(string scheme, bool smtps, string options = "")
    {
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(ca.SelfSigned("self", Host), smtps);
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "out" relay host {scheme}://{Host}:{peer.Port} {options}
            match from local for any action "out"
            """);
        string rcpt = $"{TestUsers.Recipient}@far.example";
        await SendAsync(smtpd.Port, rcpt, "not to an impostor");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        Assert.Matches("mta delivery .*result=\"TempFail\" stat=\".*TLS certificate verification failed: self-signed certificate", smtpd.Log);
        Assert.Matches($"smtp-out: Error on session with {Host} \\[127.0.0.1\\]: TLS certificate verification failed: self-signed certificate", smtpd.Log);
        Assert.Contains("mta server-cert-check result=\"failure\" reason=\"self-signed certificate\"", smtpd.Log);
        await AssertKeptAsync(smtpd, peer, rcpt, "TLS certificate verification failed: self-signed certificate");
    }

    [SkippableTheory]
    [InlineData("smtp+tls", false)]
    [InlineData("smtps", true)]
    public async Task A_smarthost_signed_by_the_actions_ca_gets_the_mail_and_the_log_says_verified(string scheme, bool smtps)
    {
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(ca.Issue("relay", Host), smtps);
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "out" relay host {scheme}://{Host}:{peer.Port} ca testca
            match from local for any action "out"
            """);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "verified");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("body of verified", Assert.Single(peer.Messages));
        Assert.Contains("mta server-cert-check result=\"success\"", smtpd.Log);
        Assert.Equal(1, peer.TlsSessions);
    }

    [SkippableFact]
    public async Task A_chain_through_an_intermediate_the_peer_sends_is_verified_up_to_the_actions_ca()
    {
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        var (leaf, intermediate) = ca.IssueViaIntermediate("relay", Host);
        await using var peer = new ScriptedPeer
        {
            Extensions = ["PIPELINING", "STARTTLS"],
            StartTlsReply = "220 2.0.0 Ready to start TLS",
            TlsCertificate = TestCa.Load(leaf),
            TlsIntermediates = [X509CertificateLoader.LoadCertificateFromFile(intermediate)],
        }.Start();
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "out" relay host smtp+tls://{Host}:{peer.Port} ca testca
            match from local for any action "out"
            """);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "through an intermediate");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("mta server-cert-check result=\"success\"", smtpd.Log);
        Assert.Single(peer.Messages);
    }

    [SkippableFact]
    public async Task Without_a_ca_the_system_store_decides()
    {
        // The same CA-signed peer: unknown to the system store, refused; once the system store
        // trusts the CA (SSL_CERT_FILE, as OpenSSL reads it), accepted without any "ca".
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(ca.Issue("relay", Host));
        string actions = $"""
            action "out" relay host smtp+tls://{Host}:{peer.Port}
            match from local for any action "out"
            """;
        await using (var strict = await RelayerAsync(dns, ca, actions))
        {
            await SendAsync(strict.Port, $"{TestUsers.Recipient}@far.example", "unknown issuer");
            await strict.WaitForLogAsync("result=\"TempFail\"", Timeout);
            Assert.Contains("TLS certificate verification failed: certificate issuer not trusted (CN=Smtpd Test Relay CA)", strict.Log);
            await AssertKeptAsync(strict, peer, "far.example");
        }

        var smtpd = new SmtpdInstance();
        await using var _ = smtpd;
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        // Readable by the unprivileged user smtpd becomes when started as root.
        File.SetUnixFileMode(ca.Dir, (UnixFileMode)0b111_101_101);
        smtpd.Environment["SSL_CERT_FILE"] = ca.CertificateFile;
        smtpd.WriteConfig("listen on 127.0.0.1 port {port}\n" + actions);
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "system store");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("mta server-cert-check result=\"success\"", smtpd.Log);
        Assert.Contains("body of system store", Assert.Single(peer.Messages));
    }

    [SkippableFact]
    public async Task A_certificate_for_another_name_is_refused()
    {
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(ca.Issue("other", "other.example"));
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "out" relay host smtp+tls://{Host}:{peer.Port} ca testca
            match from local for any action "out"
            """);
        string rcpt = $"{TestUsers.Recipient}@far.example";
        await SendAsync(smtpd.Port, rcpt, "wrong name");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        Assert.Contains($"TLS certificate verification failed: name mismatch: certificate is for other.example, not {Host}", smtpd.Log);
        await AssertKeptAsync(smtpd, peer, rcpt, "name mismatch");
    }

    [SkippableTheory]
    [InlineData("smtp+tls", false)]
    [InlineData("smtps", true)]
    public async Task With_tls_no_verify_a_self_signed_smarthost_gets_the_mail(string scheme, bool smtps)
    {
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(ca.SelfSigned("self", Host), smtps);
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "out" relay host {scheme}://{Host}:{peer.Port} tls no-verify
            match from local for any action "out"
            """);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "told not to check");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("body of told not to check", Assert.Single(peer.Messages));
        Assert.Contains("mta server-cert-check result=\"failure\" reason=\"self-signed certificate\"", smtpd.Log);
        Assert.Equal(1, peer.TlsSessions);
    }

    [SkippableTheory]
    [InlineData(false, "result=\"failure\" reason=\"self-signed certificate\"")]
    [InlineData(true, "result=\"success\"")]
    public async Task Opportunistic_starttls_delivers_either_way_and_the_log_says_whether_the_peer_was_verified(bool caSigned, string check)
    {
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(caSigned ? ca.Issue("relay", Host) : ca.SelfSigned("self", Host));
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "out" relay host smtp://{Host}:{peer.Port} ca testca
            match from local for any action "out"
            """);
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@far.example", "opportunistic");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("body of opportunistic", Assert.Single(peer.Messages));
        Assert.Equal(1, peer.TlsSessions);
        // The check line and the delivery line carry the same session id.
        var session = System.Text.RegularExpressions.Regex.Match(smtpd.Log, "([0-9a-f]{16}) mta delivery .*result=\"Ok\"").Groups[1].Value;
        Assert.Contains($"{session} mta server-cert-check {check}", smtpd.Log);
    }

    [SkippableTheory]
    [InlineData("smtps+auth", true)]
    [InlineData("smtp+tls+auth", false)]
    [InlineData("smtp+auth", false)] // credentials make STARTTLS, and its check, required
    public async Task Credentials_never_go_to_a_smarthost_whose_certificate_fails(string scheme, bool smtps)
    {
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(ca.SelfSigned("self", Host), smtps, login: "alice:wonderland");
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "out" relay host {scheme}://label@{Host}:{peer.Port} auth <secrets>
            match from local for any action "out"
            """);
        string rcpt = $"{TestUsers.Recipient}@far.example";
        await SendAsync(smtpd.Port, rcpt, "secret handshake");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        Assert.Equal(0, peer.Count("AUTH"));
        Assert.DoesNotContain(peer.Commands, c => c.Contains("alice"));
        Assert.Contains("TLS certificate verification failed: self-signed certificate", smtpd.Log);
        await AssertKeptAsync(smtpd, peer, rcpt);
    }

    [SkippableFact]
    public async Task A_verifying_action_never_rides_a_session_a_no_verify_action_opened()
    {
        // Two actions to the same smarthost (self-signed): "lax" says tls no-verify, "strict"
        // verifies. lax's session stays open after its mail; strict's mail must not go over it.
        SkipUnlessPeers();
        using var ca = NewCa();
        await using var dns = RelayDns();
        await using var peer = TlsPeer(ca.SelfSigned("self", Host));
        await using var smtpd = await RelayerAsync(dns, ca, $"""
            action "lax" relay host smtp+tls://{Host}:{peer.Port} tls no-verify
            action "strict" relay host smtp+tls://{Host}:{peer.Port}
            match from local for domain "lax.example" action "lax"
            match from local for domain "strict.example" action "strict"
            """);
        await SendAsync(smtpd.Port, "bob@lax.example", "lax one");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        await SendAsync(smtpd.Port, "bob@strict.example", "strict");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        await SendAsync(smtpd.Port, "bob@lax.example", "lax two");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout, count: 2);

        Assert.Equal(2, peer.Messages.Count);
        Assert.DoesNotContain(peer.Messages, m => m.Contains("body of strict"));
        Assert.Matches("to=<bob@strict.example>.*result=\"TempFail\" stat=\".*self-signed certificate", smtpd.Log);
        // lax reused its session (one connection for both), strict opened its own and refused the certificate.
        Assert.Equal(2, peer.Connections);
        Assert.Equal(2, peer.Count("MAIL"));
        await AssertQueuedAsync(smtpd, "bob@strict.example", "self-signed certificate");
    }

}
