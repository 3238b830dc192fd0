using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

// client ──SMTP──▶ ours / OpenSMTPD 6.8: rules matched through file: tables (domains, senders),
// aliases from a db: table each server's own makemap built, a connect filter on !rdns, and
// smtpctl update table after the file changed.
public sealed class TablesSideBySideTests(ITestOutputHelper output) : IAsyncLifetime
{
    ServerPair? _pair;

    const string Config = """
        table domains file:{dir}/domains
        table goodsenders file:{dir}/senders
        table aliases db:{dir}/aliases.db
        filter "needrdns" phase connect match !rdns disconnect "550 5.7.1 no reverse name"
        listen on 127.0.0.1 port {port} filter "needrdns"
        action "local" maildir "{dir}/maildirs/%{user.username}" alias <aliases>
        match from local mail-from <goodsenders> for domain <domains> action "local"
        match from local for local action "local"
        """;

    public async Task InitializeAsync()
    {
        if (OpenSmtpdInstance.Unavailable is not null) return;
        _pair = await ServerPair.StartAsync(Config, async s =>
        {
            File.WriteAllText(Path.Combine(s.Dir, "domains"), "tables.test\n");
            File.WriteAllText(Path.Combine(s.Dir, "senders"), "good@example.org\n@trusted.example\n");
            string aliases = Path.Combine(s.Dir, "aliases");
            File.WriteAllText(aliases, "x: smtpdtest\nlist: smtpdtest, x\n");
            // Each server's own makemap (neither needs its daemon).
            var (code, text) = s is OpenSmtpdInstance
                ? await EndToEnd.ExternalTool.RunAsync(OpenSmtpdInstance.Prefix + "/usr/sbin/makemap", ["-t", "aliases", "-o", aliases + ".db", aliases])
                : await s.CtlAsync("makemap", "", "-t", "aliases", "-o", aliases + ".db", aliases);
            Assert.True(code == 0, $"{s.Name} makemap: {text}");
        });
    }

    public async Task DisposeAsync()
    {
        if (_pair is not null) await _pair.DisposeAsync();
    }

    static readonly (string From, string To)[] Tries =
    [
        ("good@example.org", "x@tables.test"), ("good@example.org", "list@tables.test"), ("bad@example.org", "x@tables.test"),
        ("someone@trusted.example", "x@tables.test"), ("good@example.org", "nobody-known@tables.test"), ("good@example.org", "x@more.test"),
    ];

    async Task<Dictionary<string, string?>> ObserveAsync(ISideServer s)
    {
        var seen = new Dictionary<string, string?>();
        // item 10 (resolver): 127.0.0.1 is "localhost" by /etc/hosts, so !rdns does not match; fails until it lands.
        var r = await Session.RunAsync(s, ["EHLO client.example", "QUIT"]);
        seen["connect filter !rdns: banner"] = SmtpReply.Codes(r[0]);
        foreach (var (from, to) in Tries)
        {
            r = await Session.RunAsync(s, ["EHLO client.example", $"MAIL FROM:<{from}>", $"RCPT TO:<{to}>", "QUIT"]);
            // The basic code and the text (our enhanced code where OpenSMTPD has none is the kept RFC 2034 deviation).
            string codes = SmtpReply.Codes(r[3]);
            seen[$"{from} → {to}: RCPT code"] = codes[..3];
            seen[$"{from} → {to}: RCPT enhanced code"] = codes.Length > 3 ? codes[4..] : "(none)";
            seen[$"{from} → {to}: RCPT text"] = r[3][(codes.Length + 1)..];
        }
        File.AppendAllText(Path.Combine(s.Dir, "domains"), "more.test\n");
        var (code, text) = await s.SmtpctlAsync("update", "table", "domains");
        seen["update table domains: exit code"] = code.ToString();
        seen["update table domains: output"] = text.Trim();
        r = await Session.RunAsync(s, ["EHLO client.example", "MAIL FROM:<good@example.org>", "RCPT TO:<x@more.test>", "QUIT"]);
        seen["after update table: good@example.org → x@more.test: RCPT"] = SmtpReply.Codes(r[3]);
        return seen;
    }

    [SkippableFact]
    public async Task Rules_through_file_and_db_tables_and_update_table()
    {
        Skip.If(_pair is null, OpenSmtpdInstance.Unavailable);
        var ours = await ObserveAsync(_pair!.Ours);
        var theirs = await ObserveAsync(_pair.Theirs);
        var c = new Comparison(output, "tables");
        foreach (var key in ours.Keys.Union(theirs.Keys).Order(StringComparer.Ordinal))
        {
            ours.TryGetValue(key, out var o);
            theirs.TryGetValue(key, out var t);
            // RFC 2034 3: a refusal keeps its enhanced code (OpenSMTPD's has none): 5.7.1 where no rule
            // accepts the recipient (a domain that is not ours), 5.1.1 for an unknown user of ours.
            if (key.EndsWith(": RCPT enhanced code", StringComparison.Ordinal) && t == "(none)")
                c.Deviation(key + " [RFC 2034 3, RFC 3463: refused recipient keeps its enhanced code]", o,
                    key.Contains("nobody-known") ? "5.1.1" : "5.7.1", t);
            else c.Same(key, o, t);
        }
        output.WriteLine($"ours' log:\n{_pair.Ours.Log}\ntheirs' log:\n{_pair.Theirs.Log}");
        c.AssertAll();
    }

    // Files both servers refuse at -n, each naming the file and line: a reserved word as a
    // table's name, and a listener naming a filter that is declared after it.
    [SkippableTheory]
    [InlineData("senders as a table name", "table senders file:/etc/hosts\naction \"l\" mbox\nmatch from local for local action \"l\"\n", 1)]
    [InlineData("filter used before it is declared", "action \"l\" mbox\nmatch from local for local action \"l\"\nlisten on 127.0.0.1 filter \"f\"\nfilter \"f\" phase connect match !rdns disconnect \"550 no\"\n", 3)]
    public async Task Config_both_refuse_naming_file_and_line(string what, string config, int line)
    {
        Skip.If(OpenSmtpdInstance.Unavailable is not null, OpenSmtpdInstance.Unavailable);
        string dir = Directory.CreateTempSubdirectory("sbs-conf-").FullName;
        try
        {
            string conf = Path.Combine(dir, "smtpd.conf");
            File.WriteAllText(conf, config);
            var (oursCode, oursOut, oursErr) = await EndToEnd.SmtpdInstance.RunAsync("-n", "-f", conf);
            var (theirsCode, theirsText) = await EndToEnd.ExternalTool.RunAsync(OpenSmtpdInstance.Binary, ["-n", "-f", conf]);
            output.WriteLine($"{what}\n   ours:   {oursCode} {oursOut}{oursErr}\n   theirs: {theirsCode} {theirsText}");
            var c = new Comparison(output, "config");
            c.Same($"{what}: refused", oursCode != 0, theirsCode != 0);
            c.Same($"{what}: names {line}", (oursOut + oursErr).Contains($"{conf}:{line}:"), theirsText.Contains($"{conf}:{line}:"));
            c.AssertAll();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
