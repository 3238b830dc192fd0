using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.SideBySide;

namespace Smtpd.Tests.Mta;

// The same smarthost configuration in OpenSMTPD 6.8 and in ours, against the same in-test TLS
// server with a self-signed certificate: alice -> each server -> smtp+tls://127.0.0.1:P.
// Verifying (the default for smtp+tls), both keep the mail; with tls no-verify, both deliver.
public sealed class RelayTlsSideBySideTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    static async Task SendAsync(int port, string subject)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        Assert.StartsWith("220", await d.ReadReplyAsync());
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<bob@far.example>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\n\r\nbody of {subject}\r\n."));
        await d.CommandAsync("QUIT");
    }

    static async Task<OpenSmtpdInstance> TheirsAsync(string action)
    {
        var theirs = new OpenSmtpdInstance($"""
            listen on 127.0.0.1 port {"{port}"}
            {action}
            match from local for any action "out"
            """);
        try { await theirs.StartAsync(); }
        catch { await theirs.DisposeAsync(); throw; }
        return theirs;
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Both_keep_the_mail_for_a_self_signed_smarthost_unless_told_no_verify(bool noVerify)
    {
        Skip.If(OpenSmtpdInstance.Unavailable is not null, OpenSmtpdInstance.Unavailable);
        Skip.IfNot(TestCa.Available, "openssl is not installed");
        using var ca = TestCa.Create(Directory.CreateTempSubdirectory("relay-ca-").FullName);
        await using var peer = new ScriptedPeer
        {
            Extensions = ["PIPELINING", "STARTTLS"],
            StartTlsReply = "220 2.0.0 Ready to start TLS",
            TlsCertificate = TestCa.Load(ca.SelfSigned("self", "relay.example")),
        }.Start();
        string action = $"action \"out\" relay host smtp+tls://127.0.0.1:{peer.Port}{(noVerify ? " tls no-verify" : "")}";

        await using var theirs = await TheirsAsync(action);
        await using var ours = new SmtpdInstance($"""
            listen on 127.0.0.1 port {"{port}"}
            {action}
            match from local for any action "out"
            """);
        await ours.StartAsync();
        await SendAsync(theirs.Port, "to theirs");
        await SendAsync(ours.Port, "to ours");

        if (noVerify)
        {
            await theirs.WaitForLogAsync("result=\"Ok\"", Timeout);
            await ours.WaitForLogAsync("result=\"Ok\"", Timeout);
            Assert.Equal(2, peer.Messages.Count);
            // Both say the certificate did not pass, and deliver anyway as told.
            Assert.Contains("mta server-cert-check result=\"failure\"", theirs.Log);
            Assert.Contains("mta server-cert-check result=\"failure\" reason=\"self-signed certificate", ours.Log);
            return;
        }
        await theirs.WaitForLogAsync("mta error reason=SSL certificate check failed", Timeout);
        await ours.WaitForLogAsync("result=\"TempFail\"", Timeout);
        Assert.Contains("TLS certificate verification failed: self-signed certificate", ours.Log);
        Assert.Empty(peer.Messages);
        Assert.Equal(0, peer.Count("MAIL"));
        var (code, queue) = await theirs.CtlAsync("smtpctl", "", "show", "queue");
        Assert.True(code == 0, queue);
        Assert.Contains("bob@far.example", queue);
        Assert.Contains(await Smtpctl.QueueAsync(ours), line => line.Contains("bob@far.example"));
        Assert.DoesNotContain("result=\"Ok\"", theirs.Log);
        Assert.DoesNotContain("result=\"Ok\"", ours.Log);
    }
}
