using System.IO.Compression;
using System.Net;
using System.Text.Json;
using MimeKit;
using Smtpd.Tests.EndToEnd;
using static Smtpd.Tests.Mta.DaneNamespaceTests;

namespace Smtpd.Tests.Mta;

// TLS-RPT (RFC 8460): our relaying smtpd, with "tls-rpt" on and a report period of 3 s, sends
// what its MTA-STS policies met to each domain's _smtp._tls rua: by mail through its own queue
// (relayed by MX to a receiving smtpd of ours) and by HTTPS POST (an in-test endpoint), and
// to nobody for a domain that publishes no rua. All in one network namespace (NSD/Unbound,
// nginx for the policies).
public sealed class TlsRptNamespaceTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    [SkippableFact]
    public async Task Reports_by_mail_and_https_follow_rfc_8460_and_go_only_to_the_published_rua()
    {
        // alice -> smtpd (tls-rpt domain reporter.test) --MTA-STS enforce--> mx1 (ok) / mx2 (wrong certificate name)
        // every 3 s: report for ok.sts.test and bad.sts.test -> mailto:USER@rpt.sts.test (MX mx1, a maildir)
        //                                                    and https://rpt.sts.test/tlsrpt (127.0.0.7:443)
        //            quiet.sts.test publishes no _smtp._tls: no report for it anywhere.
        SkipUnlessPeers();
        Skip.If(StsWebServer.Unavailable is not null, StsWebServer.Unavailable);
        using var ca = TestCa.Create(Directory.CreateTempSubdirectory("rpt-ca-").FullName);
        var mx1 = ca.Issue("mx1", "mx1.sts.test");
        var mx2 = ca.Issue("mx2", "wrong.sts.test");
        string user = TestUsers.Recipient;
        string rua = $"v=TLSRPTv1; rua=mailto:{user}@rpt.sts.test,https://rpt.sts.test/tlsrpt";
        string[] domains = ["ok", "bad", "quiet"];

        await using var ns = await NetworkNamespace.CreateAsync(SignedDns.ResolvConf);
        await using var dns = await SignedDns.StartAsync(ns, new SignedDns.Zone("sts.test", [
            "mx1 IN A 127.0.0.2", "mx2 IN A 127.0.0.3", "rpt IN A 127.0.0.7", "rpt IN MX 10 mx1.sts.test.",
            "ok IN MX 10 mx1.sts.test.", "bad IN MX 10 mx2.sts.test.", "quiet IN MX 10 mx1.sts.test.",
            $"_smtp._tls.ok IN TXT \"{rua}\"", $"_smtp._tls.bad IN TXT \"{rua}\"",
            .. domains.SelectMany(d => new[] { $"_mta-sts.{d} IN TXT \"v=STSv1; id=1\"", $"mta-sts.{d} IN A 127.0.0.6" }),
        ], Signed: false));
        string policy = "version: STSv1\nmode: enforce\nmx: *.sts.test\nmax_age: 86400\n";
        await using var web = await StsWebServer.StartAsync(ns, "127.0.0.6",
            [.. domains.Select(d => ($"{d}.sts.test", policy, ca.Issue($"web-{d}", $"mta-sts.{d}.sts.test")))]);
        await using var https = await HttpsSink.StartAsync(ns, new IPEndPoint(IPAddress.Parse("127.0.0.7"), 443), TestCa.Load(ca.Issue("rpt", "rpt.sts.test")));
        await using var peer = await ReceiverAsync(ns, ("127.0.0.2", "mx1", mx1), ("127.0.0.3", "mx2", mx2));
        await using var smtpd = await RelayerAsync(ns, "tls-rpt domain reporter.test contact postmaster@reporter.test", ca.CertificateFile,
            new Dictionary<string, string> { ["SMTPD_TLSRPT_PERIOD"] = "3" });

        foreach (string d in domains) await SendAsync(ns, smtpd, $"{user}@{d}.sts.test", $"to {d}");
        Assert.Contains("tls=sts ", await DeliveryLineAsync(smtpd, $"{user}@ok.sts.test"));
        Assert.Contains("result=\"TempFail\"", await DeliveryLineAsync(smtpd, $"{user}@bad.sts.test"));

        // The reports by mail: one per reported domain, as RFC 8460 5.3 shapes them.
        var reports = new Dictionary<string, JsonElement>();
        var deadline = DateTime.UtcNow + Timeout;
        while (reports.Count < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            string dir = Path.Combine(peer.Maildirs, user, "new");
            if (!Directory.Exists(dir)) continue;
            foreach (string file in Directory.GetFiles(dir))
            {
                var message = await MimeMessage.LoadAsync(file);
                if (message.Headers["TLS-Report-Domain"] is not { } domain || reports.ContainsKey(domain)) continue;
                Assert.Equal("reporter.test", message.Headers["TLS-Report-Submitter"]);
                Assert.StartsWith($"Report Domain: {domain} Submitter: reporter.test Report-ID: <", message.Subject);
                var body = Assert.IsType<MultipartReport>(message.Body);
                Assert.Equal("tlsrpt", body.ReportType);
                var attachment = Assert.Single(body.OfType<MimePart>(), p => p.ContentType.MimeType == "application/tlsrpt+gzip");
                Assert.Matches($@"^reporter\.test!{domain.Replace(".", @"\.")}!\d+!\d+\.json\.gz$", attachment.FileName);
                using var gz = new MemoryStream();
                await attachment.Content!.DecodeToAsync(gz);
                reports[domain] = Parse(gz.ToArray());
            }
        }
        Assert.Equal(["bad.sts.test", "ok.sts.test"], reports.Keys.Order());

        var ok = CheckReport(reports["ok.sts.test"], "ok.sts.test");
        Assert.True(ok.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64() >= 1);
        Assert.Equal(0, ok.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64());
        Assert.Equal(0, ok.GetProperty("failure-details").GetArrayLength());

        var bad = CheckReport(reports["bad.sts.test"], "bad.sts.test");
        Assert.Equal(0, bad.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());
        long failures = bad.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64();
        Assert.True(failures >= 1);
        var detail = Assert.Single(bad.GetProperty("failure-details").EnumerateArray());
        Assert.Equal("certificate-host-mismatch", detail.GetProperty("result-type").GetString());
        Assert.Equal("mx2.sts.test", detail.GetProperty("receiving-mx-hostname").GetString());
        Assert.Equal("127.0.0.3", detail.GetProperty("receiving-ip").GetString());
        Assert.Equal(failures, detail.GetProperty("failed-session-count").GetInt64());

        // The same reports by HTTPS POST, and none for quiet.sts.test by either way.
        deadline = DateTime.UtcNow + Timeout;
        while (https.Requests.Select(r => PolicyDomain(Parse(r.Body))).Distinct().Count() < 2 && DateTime.UtcNow < deadline) await Task.Delay(200);
        foreach (var request in https.Requests)
        {
            Assert.Equal("POST", request.Method);
            Assert.Equal("/tlsrpt", request.Path);
            Assert.Equal("application/tlsrpt+gzip", request.Headers["content-type"]);
            var json = Parse(request.Body);
            CheckReport(json, PolicyDomain(json));
        }
        Assert.Equal(["bad.sts.test", "ok.sts.test"], https.Requests.Select(r => PolicyDomain(Parse(r.Body))).Distinct().Order());
        Assert.DoesNotContain("quiet.sts.test", string.Join("\n", Directory.GetFiles(Path.Combine(peer.Maildirs, user, "new")).Select(File.ReadAllText).Where(t => t.Contains("TLS-Report-Domain"))));
    }

    static JsonElement Parse(byte[] gzip)
    {
        using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
        return JsonDocument.Parse(input).RootElement.Clone();
    }

    static string PolicyDomain(JsonElement report) =>
        report.GetProperty("policies")[0].GetProperty("policy").GetProperty("policy-domain").GetString()!;

    /// <summary>RFC 8460 4.4's fields, each of its type; returns the one policy of the report.</summary>
    static JsonElement CheckReport(JsonElement report, string domain)
    {
        Assert.Equal("reporter.test", report.GetProperty("organization-name").GetString());
        Assert.Equal("postmaster@reporter.test", report.GetProperty("contact-info").GetString());
        Assert.False(string.IsNullOrEmpty(report.GetProperty("report-id").GetString()));
        var range = report.GetProperty("date-range");
        var start = DateTimeOffset.Parse(range.GetProperty("start-datetime").GetString()!);
        var end = DateTimeOffset.Parse(range.GetProperty("end-datetime").GetString()!);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", range.GetProperty("end-datetime").GetString());
        Assert.True(start < end);
        var policy = Assert.Single(report.GetProperty("policies").EnumerateArray());
        var p = policy.GetProperty("policy");
        Assert.Equal("sts", p.GetProperty("policy-type").GetString());
        Assert.Equal(domain, p.GetProperty("policy-domain").GetString());
        Assert.Equal(["version: STSv1", "mode: enforce", "mx: *.sts.test", "max_age: 86400"], p.GetProperty("policy-string").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["*.sts.test"], p.GetProperty("mx-host").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(JsonValueKind.Number, policy.GetProperty("summary").GetProperty("total-successful-session-count").ValueKind);
        Assert.Equal(JsonValueKind.Array, policy.GetProperty("failure-details").ValueKind);
        return policy;
    }
}
