using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;
using static Smtpd.Tests.Mta.DaneNamespaceTests;

namespace Smtpd.Tests.Mta;

// MTA-STS (RFC 8461) as on a real mail server: in a network namespace, NSD and Unbound serve
// the domains' MX, _mta-sts TXT and mta-sts A records; nginx serves their policies over HTTPS
// with certificates of a test CA, which our relaying smtpd trusts as its system roots
// (SSL_CERT_FILE), as it would a public CA; a second smtpd of ours is every MX.
public sealed class StsNamespaceTests
{
    const string WebAddress = "127.0.0.6";

    const string MtaStsQuery = "/usr/bin/mta-sts-query";

    /// <summary>What postfix-mta-sts-resolver's mta-sts-query prints for a domain, run in the namespace trusting the test CA.</summary>
    static async Task<string> MtaStsQueryAsync(NetworkNamespace ns, string domain, string caFile)
    {
        var psi = ns.StartInfo(MtaStsQuery, domain);
        psi.Environment["SSL_CERT_FILE"] = caFile;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        return await stdout + await stderr;
    }

    static string Policy(string mode, params string[] mx) =>
        $"version: STSv1\r\nmode: {mode}\r\n{string.Concat(mx.Select(m => $"mx: {m}\r\n"))}max_age: 86400\r\n";

    [SkippableFact]
    public async Task Enforce_testing_mismatches_and_a_cached_policy_across_a_restart_with_the_web_server_down()
    {
        // alice -> smtpd --MX, _mta-sts TXT? Unbound/NSD; policy? https://mta-sts.D (nginx, 127.0.0.6)-->
        //   enforce.sts.test   enforce, mx: mx1.sts.test; MX mx1 (127.0.0.2, certificate for mx1)   -> delivered, tls=sts
        //   badcert.sts.test   enforce, mx: *.sts.test;   MX mx2 (127.0.0.3, certificate for another name) -> 4xx, queued
        //   unlisted.sts.test  enforce, mx: mx9.sts.test; MX mx1                                        -> 4xx, queued
        //   testing.sts.test   testing, mx: mx9.sts.test; MX mx3 (127.0.0.4, self-signed)              -> delivered, reported in the log
        // then nginx stopped and smtpd restarted: enforce.sts.test again, from the policy cached in the spool.
        SkipUnlessPeers();
        Skip.If(StsWebServer.Unavailable is not null, StsWebServer.Unavailable);
        using var ca = TestCa.Create(Directory.CreateTempSubdirectory("sts-ca-").FullName);
        var mx1 = ca.Issue("mx1", "mx1.sts.test");
        var mx2 = ca.Issue("mx2", "somebody-else.sts.test");
        var mx3 = ca.SelfSigned("mx3", "mx3.sts.test");
        string[] domains = ["enforce", "badcert", "unlisted", "testing"];

        await using var ns = await NetworkNamespace.CreateAsync(SignedDns.ResolvConf);
        await using var dns = await SignedDns.StartAsync(ns, new SignedDns.Zone("sts.test", [
            "mx1 IN A 127.0.0.2", "mx2 IN A 127.0.0.3", "mx3 IN A 127.0.0.4",
            "enforce IN MX 10 mx1.sts.test.", "badcert IN MX 10 mx2.sts.test.", "unlisted IN MX 10 mx1.sts.test.", "testing IN MX 10 mx3.sts.test.",
            .. domains.SelectMany(d => new[] { $"_mta-sts.{d} IN TXT \"v=STSv1; id=20261207\"", $"mta-sts.{d} IN A {WebAddress}" }),
        ], Signed: false));
        await using var web = await StsWebServer.StartAsync(ns, WebAddress,
            ("enforce.sts.test", Policy("enforce", "mx1.sts.test"), ca.Issue("web-enforce", "mta-sts.enforce.sts.test")),
            ("badcert.sts.test", Policy("enforce", "*.sts.test"), ca.Issue("web-badcert", "mta-sts.badcert.sts.test")),
            ("unlisted.sts.test", Policy("enforce", "mx9.sts.test"), ca.Issue("web-unlisted", "mta-sts.unlisted.sts.test")),
            ("testing.sts.test", Policy("testing", "mx9.sts.test"), ca.Issue("web-testing", "mta-sts.testing.sts.test")));
        await using var peer = await ReceiverAsync(ns, ("127.0.0.2", "mx1", mx1), ("127.0.0.3", "mx2", mx2), ("127.0.0.4", "mx3", mx3));
        await using var smtpd = await RelayerAsync(ns, caFile: ca.CertificateFile);
        string user = TestUsers.Recipient;

        // Asked before any mail: fetched now, from the DNS and the web server.
        var (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "enforce.sts.test");
        Assert.Equal(0, code);
        Assert.Contains("domain=enforce.sts.test policy=sts-enforce source=\"DNS\"", shown);
        Assert.Contains("mode: enforce; mx: mx1.sts.test; max_age: 86400", shown);

        // The anchor: postfix-mta-sts-resolver's query tool, in the same namespace with the same
        // roots, finds the same id, mode and MX patterns for every domain, and nothing where there
        // is none (checked where tests/install-peers.sh installed it).
        if (File.Exists(MtaStsQuery))
        {
            foreach (string d in domains.Append("nothing"))
            {
                string theirs = await MtaStsQueryAsync(ns, $"{d}.sts.test", ca.CertificateFile);
                (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", $"{d}.sts.test");
                var ours = System.Text.RegularExpressions.Regex.Match(shown, @"mode: (\w+); mx: ([^;]*);");
                if (d == "nothing")
                {
                    Assert.Contains("policy=opportunistic", shown);
                    Assert.DoesNotContain("'mode'", theirs);
                    continue;
                }
                Assert.True(ours.Success, shown);
                Assert.Contains("(<STSFetchResult.VALID: 1>, ('20261207', ", theirs);
                Assert.Contains("MTA-STS id 20261207", shown);
                Assert.Contains($"'mode': '{ours.Groups[1].Value}'", theirs);
                Assert.Contains($"'mx': [{string.Join(", ", ours.Groups[2].Value.Split(", ").Select(m => $"'{m}'"))}]", theirs);
            }
        }

        foreach (string d in domains) await SendAsync(ns, smtpd, $"{user}@{d}.sts.test", $"to {d}");

        string enforce = await DeliveryLineAsync(smtpd, $"{user}@enforce.sts.test");
        Assert.Contains("relay=\"mx1.sts.test [127.0.0.2]\" tls=sts ", enforce);
        Assert.Contains("result=\"Ok\"", enforce);
        string badcert = await DeliveryLineAsync(smtpd, $"{user}@badcert.sts.test");
        Assert.Contains("result=\"TempFail\"", badcert);
        Assert.Contains("name mismatch: certificate is for somebody-else.sts.test, not mx2.sts.test", badcert);
        string unlisted = await DeliveryLineAsync(smtpd, $"{user}@unlisted.sts.test");
        Assert.Contains("result=\"TempFail\" stat=\"MTA-STS: no MX of unlisted.sts.test matches its policy (mx: mx9.sts.test)\"", unlisted);
        string testing = await DeliveryLineAsync(smtpd, $"{user}@testing.sts.test");
        Assert.Contains("tls=unverified ", testing);
        Assert.Contains("result=\"Ok\"", testing);
        Assert.Contains("smtp-out: MTA-STS policy of enforce.sts.test fetched: id 20261207, mode: enforce; mx: mx1.sts.test; max_age: 86400", smtpd.Log);
        Assert.Contains("MTA-STS testing policy of testing.sts.test: MX mx3.sts.test not in the policy (mx: mx9.sts.test); delivering anyway", smtpd.Log);

        // The delivered ones leave the queue; the two refused wait in it (bounded wait: the queue records after the log line).
        List<string> queued;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        do
        {
            queued = (await Smtpctl.QueueAsync(smtpd)).Select(l => l[5]).Order().ToList();
            if (queued.Count == 2) break;
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal([$"{user}@badcert.sts.test", $"{user}@unlisted.sts.test"], queued);
        // Fetched once: asked again with the TXT id unchanged, it is the cached policy.
        (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "testing.sts.test");
        Assert.Contains("domain=testing.sts.test policy=sts-testing source=\"cache\"", shown);
        Assert.Contains("TXT id unchanged", shown);

        // The web server gone and smtpd restarted: the policy is still known, from the spool.
        await web.StopAsync();
        await smtpd.StopAsync();
        await smtpd.StartAsync();
        (code, shown) = await Smtpctl.RunAsync(smtpd, "show", "tls-policy", "enforce.sts.test");
        Assert.Equal(0, code);
        Assert.Contains("domain=enforce.sts.test policy=sts-enforce source=\"cache\"", shown);
        await SendAsync(ns, smtpd, $"{user}@enforce.sts.test", "after restart");
        string again = await DeliveryLineAsync(smtpd, $"{user}@enforce.sts.test");
        Assert.Contains("tls=sts ", again);
        Assert.Contains("result=\"Ok\"", again);
    }
}
