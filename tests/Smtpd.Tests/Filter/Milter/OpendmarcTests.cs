using System.Net;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail, all inside a network namespace whose resolv.conf names 127.0.0.1: SmtpDialogue
// → smtpd on 127.0.0.1:{port} (listener "filter dmarc", a milter) ⇄ Debian's opendmarc (checking
// SPF itself with libspf2) → dnsmasq on 127.0.0.1:53 with the test domains' SPF and DMARC records
// → fs queue → maildir {dir}/maildirs/USER.
public sealed class OpendmarcTests
{
    [SkippableFact]
    public async Task MailFailingDmarcOnAPRejectDomainIsRefusedAndAlignedMailPasses()
    {
        MilterDaemon.Require("/usr/sbin/opendmarc", "opendmarc");
        Skip.If(NetworkNamespace.Unavailable is not null, NetworkNamespace.Unavailable);
        Skip.IfNot(Dnsmasq.Available, "dnsmasq (dnsmasq-base) serves the SPF and DMARC records");
        await using var ns = await NetworkNamespace.CreateAsync(SignedDns.ResolvConf);
        // The client comes from 192.0.2.10 (libspf2 passes loopback clients whatever the record says).
        var (added, _, error) = await ns.RunAsync("ip", ["addr", "add", "192.0.2.10/32", "dev", "lo"]);
        Assert.True(added == 0, error);
        await using var dns = new Dnsmasq(["reject.example", "good.example"], [
            // reject.example sends only from 192.0.2.1 and asks for rejection; good.example from the client's 192.0.2.10.
            "txt-record=reject.example,\"v=spf1 ip4:192.0.2.1 -all\"",
            "txt-record=_dmarc.reject.example,\"v=DMARC1; p=reject\"",
            "txt-record=good.example,\"v=spf1 ip4:192.0.2.10 -all\"",
            "txt-record=_dmarc.good.example,\"v=DMARC1; p=reject\"",
        ], ns);
        await using var opendmarc = await MilterDaemon.StartAsync("/usr/sbin/opendmarc", (dir, port) =>
        {
            // Only 127.0.0.1 is ignored (opendmarc's default), not the client.
            File.WriteAllText(Path.Combine(dir, "ignore"), "127.0.0.1\n");
            File.WriteAllText(Path.Combine(dir, "opendmarc.conf"), $"""
                AuthservID mx.test
                TrustedAuthservIDs mx.test
                RejectFailures true
                SPFSelfValidate true
                SPFIgnoreResults true
                IgnoreHosts {dir}/ignore
                Socket inet:{port}@127.0.0.1
                PidFile {dir}/opendmarc.pid
                Syslog false
                """);
            return ["-f", "-c", Path.Combine(dir, "opendmarc.conf")];
        }, ns: ns);

        await using var smtpd = new SmtpdInstance($"""
            filter "dmarc" milter "{opendmarc.Address}"
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "dmarc"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        smtpd.Wrapper.AddRange(ns.Enter);
        smtpd.Environment.Remove("SMTPD_RESOLVER");
        await smtpd.StartAsync();

        await using (var c = SmtpDialogue.Over(await ns.ConnectAsync(new IPEndPoint(IPAddress.Loopback, smtpd.Port), IPAddress.Parse("192.0.2.10"))))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            foreach (var (domain, expected) in new[] { ("reject.example", "5"), ("good.example", "250") })
            {
                Assert.StartsWith("250", await c.CommandAsync($"MAIL FROM:<alice@{domain}>"));
                Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{MilterTests.Me}@localhost>"));
                Assert.StartsWith("354", await c.CommandAsync("DATA"));
                string reply = await c.CommandAsync($"From: alice@{domain}\r\nTo: {MilterTests.Me}@localhost\r\nSubject: from {domain}\r\n" +
                    $"Date: Wed, 02 Dec 2026 12:00:00 +0000\r\nMessage-ID: <{domain}@test>\r\n\r\nHello.\r\n.");
                Assert.True(reply.StartsWith(expected, StringComparison.Ordinal), $"{domain}: {reply}\n{smtpd.Log}\n{opendmarc.Output}");
            }
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        string mail = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, MilterTests.Me), 1, MilterTests.Wait)));
        Assert.Contains("Subject: from good.example", mail);
        Assert.Contains("spf=pass smtp.mailfrom=good.example", mail);
        Assert.Matches(@"Authentication-Results: mx\.test; dmarc=pass \(p=reject dis=none\) header\.from=good\.example", mail);
    }
}
