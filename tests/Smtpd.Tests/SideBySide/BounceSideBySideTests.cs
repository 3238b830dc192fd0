using Smtpd.Tests.EndToEnd;
using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

// client ──SMTP──▶ ours / OpenSMTPD 6.8 ──mda "exit 67"──✗ ──bounce──▶ sender's maildir
// sendmail (each server's own) ──▶ the same server ──▶ maildir
// client ──SMTP──▶ built-in filters (reject at HELO, disconnect at MAIL FROM)
// makemap (each server's own) on the same source
public sealed class BounceSideBySideTests(ITestOutputHelper output) : IAsyncLifetime
{
    ServerPair? _pair;

    const string Config = """
        filter "badhelo" phase helo match helo regex "^bad" reject "550 5.7.1 no bad helos"
        filter "badsender" phase mail-from match mail-from regex "^spam" disconnect "421 4.7.0 go away"
        filter "checks" chain { "badhelo", "badsender" }
        listen on 127.0.0.1 port {port} filter "checks"
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "fail" mda "echo no such folder >&2; exit 67"
        action "later" mda "echo try later >&2; exit 75"
        match from local for domain "fail.test" action "fail"
        match from local for domain "later.test" action "later"
        match from local for local action "local"
        """;

    public async Task InitializeAsync()
    {
        if (OpenSmtpdInstance.Unavailable is null) _pair = await ServerPair.StartAsync(Config);
    }

    public async Task DisposeAsync()
    {
        if (_pair is not null) await _pair.DisposeAsync();
    }

    const string Message = "From: smtpdtest@localhost\nTo: smtpdtest@fail.test\nSubject: will bounce\nDate: Mon, 7 Dec 2026 01:02:03 +0000\nMessage-ID: <b@example.org>\n\nthe original body\n";

    async Task<Dictionary<string, string?>> ObserveAsync(ISideServer s)
    {
        var seen = new Dictionary<string, string?>();
        seen["bounced message: end of DATA"] = SmtpReply.Codes(await Session.SendAsync(s, "smtpdtest@localhost", ["smtpdtest@fail.test"], Message));
        var bounces = await Delivered.MaildirAsync(s, "smtpdtest", 1);
        var bounce = bounces.FirstOrDefault();
        var raw = bounce is null ? null : MimeKit.MimeMessage.Load(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(bounce.Raw)));
        seen["bounce: delivered"] = (bounce is not null).ToString();
        seen["bounce: From"] = bounce?.Header("From");
        seen["bounce: To"] = bounce?.Header("To");
        seen["bounce: Subject"] = bounce?.Header("Subject");
        seen["bounce: Return-Path"] = bounce?.Header("Return-Path");
        seen["bounce: Content-Type media type"] = raw?.Body?.ContentType.MimeType;
        seen["bounce: part types"] = raw is null ? null : string.Join(",", raw.BodyParts.Select(p => p.ContentType.MimeType));
        seen["bounce: names the recipient"] = bounce?.Body.Contains("smtpdtest@fail.test").ToString();
        seen["bounce: carries the original Subject"] = bounce?.Body.Contains("Subject: will bounce").ToString();
        seen["bounce: carries the original body"] = bounce?.Body.Contains("the original body").ToString();
        seen["bounce: mda delivery log line result"] = s.Log.Split('\n').FirstOrDefault(l => l.Contains("to=<smtpdtest@fail.test>") && l.Contains("result="))?.Split("result=")[1].Split(' ')[0];

        // A temporary failure of the mda, as show queue shows it.
        string later = Session.MessageId(await Session.SendAsync(s, "smtpdtest@localhost", ["smtpdtest@later.test"], Message.Replace("fail.test", "later.test")));
        var queue = await Queue.WaitForAsync(s, l => l.Length > 13 && l[0].StartsWith(later) && l[10] != "0" && l[11] == "pending"); // (between tries, not during one)
        var line = queue.FirstOrDefault(l => l[0].StartsWith(later));
        seen["mda tempfail: in the queue"] = (line is not null).ToString();
        if (line is not null)
            foreach (var (i, field) in new[] { (2, "type"), (4, "sender"), (5, "recipient"), (10, "retry count"), (11, "state"), (13, "last error") })
                seen[$"mda tempfail: show queue {field}"] = Normalise.Text(line[i], s.Dir);
        seen["mda tempfail: log result"] = s.Log.Split('\n').FirstOrDefault(l => l.Contains("to=<smtpdtest@later.test>") && l.Contains("result="))?.Split("result=")[1].Split(' ')[0];
        await s.SmtpctlAsync("remove", later);

        // sendmail, as a local program hands mail in: no Date or Message-ID given.
        var (code, text) = await s.CtlAsync("sendmail", "To: smtpdtest@localhost\nSubject: by sendmail\n\nfrom sendmail\n", "-f", "smtpdtest@localhost", "smtpdtest@localhost");
        seen["sendmail: exit code"] = code.ToString();
        seen["sendmail: output"] = text.Trim();
        var all = await Delivered.MaildirAsync(s, "smtpdtest", 2);
        var sent = all.FirstOrDefault(m => m.Header("Subject") == "by sendmail");
        seen["sendmail: delivered"] = (sent is not null).ToString();
        // From and Date on top (smtpctl), Message-ID at the end of the header (the daemon).
        seen["sendmail: header names"] = sent?.HeaderNames;
        seen["sendmail: Return-Path"] = sent?.Header("Return-Path");
        seen["sendmail: body"] = sent?.Body;

        // Built-in filters.
        var r = await Session.RunAsync(s, ["HELO bad.example", "HELO good.example", "MAIL FROM:<spam@example.org>", "NOOP"]);
        seen["filter reject at helo"] = r[1];
        seen["filter: next helo"] = SmtpReply.Codes(r[2]);
        seen["filter disconnect at mail-from"] = r[3];
        seen["filter: after the disconnect"] = r[4];

        // makemap on one source, dumped back (-U: item 12, adminside; fails until it lands).
        string source = Path.Combine(s.Dir, "aliases");
        File.WriteAllText(source, "postmaster: root\nteam: alice, bob\n");
        (code, text) = await s.CtlAsync("makemap", "", "-t", "aliases", "-o", source + ".db", source);
        seen["makemap: exit code"] = code.ToString();
        seen["makemap: output"] = Normalise.Text(text.Trim(), s.Dir);
        (code, text) = await s.CtlAsync("makemap", "", "-U", source + ".db");
        seen["makemap -U: exit code"] = code.ToString();
        seen["makemap -U: output"] = string.Join("\n", text.Trim().Split('\n').Order(StringComparer.Ordinal));
        return seen;
    }

    [SkippableFact]
    public async Task Bounce_sendmail_builtin_filters_and_makemap()
    {
        Skip.If(_pair is null, OpenSmtpdInstance.Unavailable);
        var ours = await ObserveAsync(_pair!.Ours);
        var theirs = await ObserveAsync(_pair.Theirs);
        var c = new Comparison(output, "bounce, sendmail, filters, makemap");
        c.ObserveAll(ours, theirs, Kept, Pending);
        output.WriteLine($"ours' log:\n{_pair.Ours.Log}\ntheirs' log:\n{_pair.Theirs.Log}");
        c.AssertAll();
    }

    // Deviations this suite found, reported, not fixed yet (none now; docs/DEVIATIONS.md):
    static readonly Dictionary<string, string> Pending = new()
    {
    };

    // docs/DEVIATIONS.md: our side of each deviation kept on purpose.
    static readonly Dictionary<string, (string Ours, string Why)> Kept = new()
    {
        ["bounce: Content-Type media type"] = ("multipart/report", "RFC 3464 2: a delivery status notification is multipart/report"),
        ["bounce: part types"] = ("text/plain,message/delivery-status,message/rfc822", "RFC 3464 2: human part, delivery-status, the original message"),
        ["bounce: Return-Path"] = ("<>", "RFC 5321 4.5.5: a notification is sent with the null reverse-path"),
    };
}
