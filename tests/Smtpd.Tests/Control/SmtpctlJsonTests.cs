using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Control;

// client ──SMTP──▶ smtpd ──relay host──▶ peer smtpd (550 to refused.example) ─▶ a failure report
//                                        back to the local sender, held by the paused MDA
//                        ──relay host──▶ 127.0.0.2, a port nobody listens on (bob pending with
//                                        the error, carol paused by the admin; the route penalized)
// smtpctl show queue/envelope/stats/routes -j, parsed as JSON, say field by field what the human
// output says of the same queue.
public sealed partial class SmtpctlJsonTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    sealed record Daemons(SmtpdInstance Peer, SmtpdInstance Smtpd) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Smtpd.DisposeAsync();
            await Peer.DisposeAsync();
        }
    }

    static async Task<Daemons> StartAsync()
    {
        var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "accepted.example" action "local"
            """);
        await peer.StartAsync();
        var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "peer" relay host smtp://127.0.0.1:{{peer.Port}}
            action "dead" relay host smtp://127.0.0.2:{{SmtpdInstance.FreePort()}}
            match from local for local action "local"
            match from local for domain "refused.example" action "peer"
            match from local for any action "dead"
            """);
        await smtpd.StartAsync();
        return new Daemons(peer, smtpd);
    }

    static async Task SendAsync(int port, string sender, params string[] rcpts)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{sender}>"));
        foreach (var rcpt in rcpts) Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync("Subject: json\r\n\r\nbody\r\n."));
    }

    static async Task<string> RunAsync(SmtpdInstance smtpd, params string[] args)
    {
        var (code, output) = await Smtpctl.RunAsync(smtpd, args);
        Assert.True(code == 0, $"smtpctl {string.Join(' ', args)}: exit {code}: {output}");
        return output;
    }

    static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// The human output, the JSON, then the human output again, until both human outputs agree
    /// (ignoring what moves with the clock): the queue and the routes change while the MTA
    /// retries, and a comparison is only fair against a state that held across the JSON call.
    /// </summary>
    static async Task<(string Human, string Json)> StableAsync(SmtpdInstance smtpd, string[] human, string[] json, Func<string, string> ignoringClock, Func<string, bool>? ready = null)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            string before = await RunAsync(smtpd, human);
            string j = await RunAsync(smtpd, json);
            string after = await RunAsync(smtpd, human);
            if (ignoringClock(before) == ignoringClock(after) && (ready?.Invoke(before) ?? true)) return (before, j);
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"smtpctl {string.Join(' ', human)} never held still:\n{before}\n---\n{after}");
            await Task.Delay(200);
        }
    }

    static string? Str(JsonElement o, string name) => o.GetProperty(name).ValueKind == JsonValueKind.Null ? null : o.GetProperty(name).GetString();
    static long? Num(JsonElement o, string name) => o.GetProperty(name).ValueKind == JsonValueKind.Null ? null : o.GetProperty(name).GetInt64();

    static void AssertIso(JsonElement o, string name)
    {
        long? unix = Num(o, name);
        string? iso = Str(o, name + "_iso");
        Assert.Equal(unix is null, iso is null);
        if (unix is { } u) Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(u), DateTimeOffset.Parse(iso!, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Show_queue_and_show_envelope_as_json_say_field_by_field_what_the_human_output_says()
    {
        await using var daemons = await StartAsync();
        var smtpd = daemons.Smtpd;
        await RunAsync(smtpd, "pause", "mda");
        // A report for the local sender, held by the paused MDA: from the null sender, in flight.
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@localhost", "nobody@refused.example");
        await Poll.UntilAsync(async () => (await Smtpctl.QueueAsync(smtpd)).Any(l => l[3].Split(',').Contains("bounce")), "the failure report queued", Timeout);
        // Two recipients the relay cannot reach; carol is paused by the admin.
        await SendAsync(smtpd.Port, "alice@example.org", "bob@far.example", "carol@far.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout, count: 2);
        string carol = (await Smtpctl.QueueAsync(smtpd)).Single(l => l[5] == "carol@far.example")[0];
        Assert.Equal("1 envelope paused", (await RunAsync(smtpd, "pause", "envelope", carol)).Trim());

        // The seconds after the state move with the clock; all else must hold across the JSON call.
        static string Frozen(string output) => string.Join('\n', Lines(output).Select(l => Regex.Replace(l, @"\|(pending|inflight)\|\d+\|", "|$1||")));
        var (human, json) = await StableAsync(smtpd, ["show", "queue"], ["show", "queue", "-j"], Frozen,
            h => h.Contains("|suspend|") && Lines(h).All(l => l.Contains("|mda|bounce|") || l.Split('|')[10] != "0"));

        var lines = Lines(human).Select(l => l.Split('|')).ToDictionary(f => f[0]);
        var objects = Lines(json).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(3, lines.Count);
        Assert.Equal(lines.Keys.Order(), objects.Select(o => Str(o, "id")!).Order());
        foreach (var o in objects)
        {
            var f = lines[Str(o, "id")!];
            Assert.Equal(f[0][..8], Str(o, "msgid"));
            Assert.Equal(f[1], Str(o, "src"));
            Assert.Equal(f[2], Str(o, "agent"));
            Assert.Equal(f[3], string.Join(',', o.GetProperty("flags").EnumerateArray().Select(e => e.GetString())));
            // The human output writes an address without '@' (the null sender: "") with one.
            static string At(string? a) => a!.Contains('@') ? a : a + "@";
            Assert.Equal(f[4], At(Str(o, "sender")));
            Assert.Equal(f[5], At(Str(o, "rcpt")));
            Assert.Equal(f[6], At(Str(o, "dest")));
            Assert.Equal(f[7], Num(o, "creation").ToString());
            Assert.Equal(f[8], Num(o, "expire").ToString());
            Assert.Equal(f[9], (Num(o, "last_try") ?? 0).ToString());
            Assert.Equal(f[10], Num(o, "retry").ToString());
            Assert.Equal(f[11], Str(o, "state"));
            Assert.InRange(Num(o, "state_seconds")!.Value, long.Parse(f[12]) - 2, long.Parse(f[12]) + 2);
            Assert.Equal(f[13], Str(o, "last_error") ?? "");
            foreach (var time in new[] { "creation", "expire", "last_try", "next_try", "inflight_since" }) AssertIso(o, time);
            Assert.Equal(f[11] == "pending", Num(o, "next_try") is not null);
            Assert.Equal(f[11] == "inflight", Num(o, "inflight_since") is not null);
        }
        // What the queue was made to hold: the report in flight to the paused MDA, bob pending with the relay's error, carol paused.
        var report = objects.Single(o => Str(o, "sender") == "");
        Assert.Equal(("mda", "inflight"), (Str(report, "agent"), Str(report, "state")));
        Assert.Equal(["bounce"], report.GetProperty("flags").EnumerateArray().Select(e => e.GetString()));
        var bob = objects.Single(o => Str(o, "rcpt") == "bob@far.example");
        Assert.Equal(("mta", "pending"), (Str(bob, "agent"), Str(bob, "state")));
        Assert.True(Num(bob, "retry") >= 1 && Num(bob, "last_try") > 0);
        Assert.Contains("Connection refused", Str(bob, "last_error"));
        Assert.Contains("suspend", objects.Single(o => Str(o, "id") == carol).GetProperty("flags").EnumerateArray().Select(e => e.GetString()));

        // show envelope: each key of the envelope text is a field of the JSON, with the same value.
        foreach (string id in lines.Keys)
        {
            var (text, envelopeJson) = await StableAsync(smtpd, ["show", "envelope", id], ["show", "envelope", id, "-j"], t => t);
            var o = Assert.Single(Lines(envelopeJson).Select(l => JsonDocument.Parse(l).RootElement));
            Assert.Equal(id, Str(o, "id"));
            var keys = Lines(text).Select(l => l.Split(':', 2)).ToDictionary(kv => kv[0], kv => kv[1].StartsWith(' ') ? kv[1][1..] : kv[1]);
            foreach (var (key, value) in keys)
                switch (key)
                {
                    case "version": break;
                    case "errorline": Assert.Equal(value, Str(o, "last_error")); break;
                    case "ctime" or "ttl" or "retry" or "esc-class" or "esc-code": Assert.Equal(value, Num(o, key.Replace('-', '_')).ToString()); break;
                    case "last-try" or "last-bounce": Assert.Equal(value, (Num(o, key.Replace('-', '_')) ?? 0).ToString()); break;
                    case "dsn-notify":
                        var words = o.GetProperty("dsn_notify").EnumerateArray().Select(e => e.GetString()).ToList();
                        int mask = (words.Contains("success") ? 1 : 0) | (words.Contains("failure") ? 2 : 0) | (words.Contains("delay") ? 4 : 0) | (words.Contains("never") ? 8 : 0);
                        Assert.Equal(value, mask.ToString());
                        break;
                    default: Assert.True(value == Str(o, key.Replace('-', '_')), $"{id} {key}: text \"{value}\", json \"{Str(o, key.Replace('-', '_'))}\""); break;
                }
            // And nothing the JSON has is missing from the text (the computed fields aside).
            string[] computed = ["id", "msgid", "expire", "expire_iso", "ctime_iso", "last_try_iso", "last_bounce_iso", "last_error", "dsn_notify"];
            foreach (var p in o.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null && !computed.Contains(p.Name)))
                Assert.True(keys.ContainsKey(p.Name.Replace('_', '-')), $"{id}: {p.Name} is not in the envelope text");
            Assert.Equal(Num(o, "ctime") + Num(o, "ttl"), Num(o, "expire"));
            foreach (var time in new[] { "ctime", "expire", "last_try", "last_bounce" }) AssertIso(o, time);
        }

        // -j right after show is the same form.
        var shown = Lines(await RunAsync(smtpd, "show", "-j", "queue")).Select(l => Str(JsonDocument.Parse(l).RootElement, "id")).Order();
        Assert.Equal(lines.Keys.Order(), shown);
        var single = Lines(await RunAsync(smtpd, "show", "queue", carol, "-j")).Select(l => JsonDocument.Parse(l).RootElement);
        Assert.Equal(carol, Str(Assert.Single(single), "id"));
    }

    [Fact]
    public async Task Show_stats_and_show_routes_as_json_say_field_by_field_what_the_human_output_says()
    {
        await using var daemons = await StartAsync();
        var smtpd = daemons.Smtpd;
        await SendAsync(smtpd.Port, "alice@example.org", "bob@far.example");
        await smtpd.WaitForLogAsync("penalized", Timeout);

        // Stats: every key=value line is in the JSON (uptime and uptime.human at the top level).
        static string NoUptime(string s) => string.Join('\n', Lines(s).Where(l => !l.StartsWith("uptime", StringComparison.Ordinal)));
        var (human, json) = await StableAsync(smtpd, ["show", "stats"], ["show", "stats", "-j"], NoUptime);
        var stats = JsonDocument.Parse(Assert.Single(Lines(json))).RootElement;
        var values = stats.GetProperty("stats").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDecimal());
        var lines = Lines(human).Select(l => l.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Equal(lines.Keys.Where(k => !k.StartsWith("uptime", StringComparison.Ordinal)).Order(StringComparer.Ordinal), values.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, value) in lines)
            switch (key)
            {
                case "uptime": Assert.InRange(Num(stats, "uptime")!.Value, long.Parse(value), long.Parse(value) + 3); break;
                case "uptime.human": Assert.InRange(Seconds(Str(stats, "uptime_human")!), Seconds(value), Seconds(value) + 3); break;
                // Durations print with six decimals; counters and timestamps as integers.
                default: Assert.True(decimal.Parse(value, CultureInfo.InvariantCulture) == Math.Round(values[key], 6), $"{key}: text {value}, json {values[key]}"); break;
            }
        Assert.True(values["scheduler.delivery.tempfail"] >= 1 && values["scheduler.envelope"] == 1, json);
        AssertIso(stats, "time");
        AssertIso(stats, "started");
        // Both times are whole seconds: their difference may be one more than the uptime.
        Assert.InRange(Num(stats, "time")!.Value - Num(stats, "started")!.Value - Num(stats, "uptime")!.Value, 0, 1);

        // Routes: the next hop that refuses and the route penalized for it, while penalized.
        static string NoTimeout(string s) => Regex.Replace(s, @"timeout=\S+", "timeout=");
        var (routesHuman, routesJson) = await StableAsync(smtpd, ["show", "routes"], ["show", "routes", "-j"], NoTimeout,
            h => h.Contains("(action dead) -D--") && h.Contains("127.0.0.2 ND--"));
        var routes = JsonDocument.Parse(Assert.Single(Lines(routesJson))).RootElement.GetProperty("routes").EnumerateArray().ToList();
        var routeLines = Lines(routesHuman);
        Assert.Equal(routeLines.Length, routes.Count);
        foreach (var (line, o) in routeLines.Zip(routes))
        {
            var m = RouteLine().Match(line);
            Assert.True(m.Success, line);
            Assert.Equal(m.Groups["id"].Value, Num(o, "id").ToString());
            string target = Str(o, "kind") == "host"
                ? Str(o, "reverse_name") is { } name ? $"{Str(o, "address")} ({name})" : Str(o, "address")!
                : $"{Str(o, "domain")} (action {Str(o, "action")})";
            Assert.Equal(m.Groups["target"].Value, target);
            string flags = $"{(o.GetProperty("never_connected").GetBoolean() ? 'N' : '-')}{(o.GetProperty("disabled").GetBoolean() ? 'D' : '-')}{(o.GetProperty("waiting").GetBoolean() ? 'Q' : '-')}{(o.GetProperty("idle").GetBoolean() ? 'K' : '-')}";
            Assert.Equal(m.Groups["flags"].Value, flags);
            Assert.Equal(m.Groups["nconn"].Value, Num(o, "connections").ToString());
            Assert.Equal(m.Groups["nerror"].Value, Num(o, "errors").ToString());
            Assert.Equal(m.Groups["penalty"].Value, Num(o, "penalty").ToString());
            string timeout = m.Groups["timeout"].Value;
            Assert.Equal(timeout == "-", Num(o, "timeout_seconds") is null);
            if (timeout != "-") Assert.InRange(Num(o, "timeout_seconds")!.Value, Seconds(timeout) - 2, Seconds(timeout) + 2);
            AssertIso(o, "usable_at");
        }
        var penalized = routes.Single(o => Str(o, "kind") == "route");
        Assert.Equal(("far.example", "dead", true), (Str(penalized, "domain"), Str(penalized, "action"), penalized.GetProperty("disabled").GetBoolean()));
        Assert.True(Num(penalized, "penalty") >= 1 && Num(penalized, "timeout_seconds") is not null);
        Assert.Equal("127.0.0.2", Str(routes.Single(o => Str(o, "kind") == "host"), "address"));
    }

    [Fact]
    public async Task A_verb_without_a_json_form_refuses_j_and_without_a_daemon_j_errors_as_before()
    {
        await using var daemons = await StartAsync();
        var smtpd = daemons.Smtpd;
        foreach (string[] args in new[] { new[] { "show", "status", "-j" }, ["show", "hosts", "-j"], ["pause", "mda", "-j"], ["show", "-j"] })
        {
            var (code, output) = await Smtpctl.RunAsync(smtpd, args);
            Assert.Equal(1, code);
            Assert.Contains("has no JSON form", output);
        }
        // Refused, so not done either.
        Assert.Equal("MDA running", Lines(await RunAsync(smtpd, "show", "status"))[0]);
        Assert.Equal("", (await RunAsync(smtpd, "show", "queue", "-j")).Trim());
        var (missing, said) = await Smtpctl.RunAsync(smtpd, "show", "envelope", "0123456789abcdef", "-j");
        Assert.Equal((1, "smtpctl: no such envelope: 0123456789abcdef"), (missing, said.Trim()));

        await using var none = new SmtpdInstance();
        var (noDaemon, error) = await Smtpctl.RunAsync(none, "show", "queue", "-j");
        Assert.Equal(1, noDaemon);
        Assert.Contains("smtpctl: smtpd doesn't seem to be running\n", error);
    }

    /// <summary>A time as show routes and show stats print it (1d2h3m4s), in seconds.</summary>
    static long Seconds(string duration)
    {
        long total = 0;
        foreach (Match m in Regex.Matches(duration, @"(\d+)([dhms])"))
            total += long.Parse(m.Groups[1].Value) * m.Groups[2].Value switch { "d" => 86400, "h" => 3600, "m" => 60, _ => 1 };
        return total;
    }

    [GeneratedRegex(@"^(?<id>\d+)\. \[\] <-> (?<target>.+) (?<flags>[N-][D-][Q-][K-]) nconn=(?<nconn>\d+) nerror=(?<nerror>\d+) penalty=(?<penalty>\d+) timeout=(?<timeout>\S+)$")]
    private static partial Regex RouteLine();
}
