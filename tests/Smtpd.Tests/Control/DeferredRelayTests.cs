using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;

namespace Smtpd.Tests.Control;

// Envelopes the MTA could not deliver now (a greylisting peer, a refused connection, an
// unexpected error) are back in the scheduler's hands: smtpctl shows them as they are and every
// verb reaches them, as with OpenSMTPD.
public sealed class DeferredRelayTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static async Task<SmtpdInstance> RelayingToAsync(int port, Action<SmtpdInstance>? prepare = null)
    {
        var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "out" relay host smtp://127.0.0.1:{{port}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        prepare?.Invoke(smtpd);
        await smtpd.StartAsync();
        return smtpd;
    }

    /// <summary>Sends one message to <paramref name="rcpts"/>; returns its message id.</summary>
    static async Task<string> SendAsync(int port, params string[] rcpts)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync("MAIL FROM:<alice@example.org>");
        foreach (var rcpt in rcpts) Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        string reply = await d.CommandAsync("Subject: deferred\r\n\r\nbody\r\n.");
        Assert.StartsWith("250", reply);
        return reply.Split(' ')[2];
    }

    static async Task<string[]> LineAsync(SmtpdInstance smtpd, string rcpt) =>
        (await Smtpctl.QueueAsync(smtpd)).Single(l => l[5] == rcpt);

    static async Task<string> RunAsync(SmtpdInstance smtpd, params string[] args)
    {
        var (code, output) = await Smtpctl.RunAsync(smtpd, args);
        Assert.True(code == 0, output);
        return output.Trim();
    }

    static Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        WaitUntilAsync(() => Task.FromResult(condition()), what, timeout);

    static Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        Poll.UntilAsync(condition, what, timeout ?? TimeSpan.FromSeconds(60));

    static int Tries(SmtpdInstance smtpd, string evpid) => SmtpdInstance.Occurrences(smtpd.Log, $"evpid={evpid} from=");

    [Fact]
    public async Task A_greylisted_envelope_is_pending_with_its_retry_count_and_the_451_and_remove_means_never_delivered()
    {
        // alice -> us -> greylisting peer (451 to each RCPT for its first 12 s). One message for
        // a and b is removed, by envelope then by message id, while greylisted; a second
        // message, for c, is left alone and shows that retries do reach the peer after the grey period.
        await using var peer = new GreylistPeer(TimeSpan.FromSeconds(12));
        await using var smtpd = await RelayingToAsync(peer.Port);
        string msgid = await SendAsync(smtpd.Port, "a@grey.example", "b@grey.example");
        await SendAsync(smtpd.Port, "c@grey.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout, count: 3);

        // What OpenSMTPD shows: pending, tried once or more, the peer's reply as the error.
        var a = await LineAsync(smtpd, "a@grey.example");
        Assert.Equal("pending", a[11]);
        Assert.True(int.Parse(a[10]) >= 1, string.Join('|', a));
        Assert.True(long.Parse(a[9]) > 0, "last try");
        Assert.Equal("451 4.7.1 Greylisted, please try again later", a[13]);
        Assert.InRange(long.Parse(a[12]), 0, 60); // next try: when the route's penalty ends

        Assert.Equal("1 envelope removed", await RunAsync(smtpd, "remove", a[0]));
        Assert.Equal("1 envelope removed", await RunAsync(smtpd, "remove", msgid));
        int aTries = peer.RcptsFor.GetValueOrDefault("a@grey.example"), bTries = peer.RcptsFor.GetValueOrDefault("b@grey.example");
        Assert.Equal(["c@grey.example"], (await Smtpctl.QueueAsync(smtpd)).Select(l => l[5]));

        // c gets through once the grey period is over; a and b never do.
        await WaitUntilAsync(() => !peer.Delivered.IsEmpty, "c delivered after the grey period");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(["c@grey.example"], Assert.Single(peer.Delivered));
        // A transaction already under way when remove answered may still have asked for them once.
        Assert.InRange(peer.RcptsFor.GetValueOrDefault("a@grey.example"), aTries, aTries + 1);
        Assert.InRange(peer.RcptsFor.GetValueOrDefault("b@grey.example"), bTries, bTries + 1);
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
        Assert.Contains($"evpid={a[0]} (by smtpctl", smtpd.Log);
    }

    [Theory]
    [InlineData("refused", "evpid")]
    [InlineData("refused", "msgid")]
    [InlineData("greylisted", "msgid")]
    public async Task Pause_schedule_resume_and_remove_reach_an_envelope_the_relay_did_not_take(string peerKind, string removeBy)
    {
        // alice -> us -> a closed port (every try fails at once) or a peer that greylists for an
        // hour: the envelope comes back to the scheduler after each try.
        await using var grey = new GreylistPeer(TimeSpan.FromHours(1));
        int port = peerKind == "refused" ? SmtpdInstance.FreePort() : grey.Port;
        await using var smtpd = await RelayingToAsync(port);
        string msgid = await SendAsync(smtpd.Port, "bob@deferred.example");
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);

        var line = await LineAsync(smtpd, "bob@deferred.example");
        string evpid = line[0];
        Assert.Equal("pending", line[11]);
        Assert.True(int.Parse(line[10]) >= 1, string.Join('|', line));
        Assert.Contains(peerKind == "refused" ? "Connection refused" : "451 4.7.1 Greylisted", line[13]);

        // Paused (even if it was in flight at that moment, it is held once back): no more tries.
        Assert.Equal("1 envelope paused", await RunAsync(smtpd, "pause", "envelope", evpid));
        await Task.Delay(TimeSpan.FromSeconds(1));
        int paused = Tries(smtpd, evpid);
        line = await LineAsync(smtpd, "bob@deferred.example");
        Assert.Contains("suspend", line[3].Split(','));
        Assert.Equal("pending", line[11]);
        // Scheduled while paused: due now, but still held.
        Assert.Equal("1 envelope scheduled", await RunAsync(smtpd, "schedule", evpid));
        await Task.Delay(TimeSpan.FromSeconds(5)); // longer than the route's first penalties
        Assert.Equal(paused, Tries(smtpd, evpid));

        // Resumed: tried again at once (it was made due), and back to pending with one more try.
        int retries = int.Parse((await LineAsync(smtpd, "bob@deferred.example"))[10]);
        Assert.Equal("1 envelope resumed", await RunAsync(smtpd, "resume", "envelope", evpid));
        await WaitUntilAsync(() => Tries(smtpd, evpid) > paused, "a try after resume", TimeSpan.FromSeconds(15));
        await WaitUntilAsync(async () => int.Parse((await LineAsync(smtpd, "bob@deferred.example"))[10]) > retries, "the retry count after resume", TimeSpan.FromSeconds(15));
        Assert.DoesNotContain("suspend", (await LineAsync(smtpd, "bob@deferred.example"))[3].Split(','));

        // Removed: gone from the queue and from the spool, never tried again.
        Assert.Equal("1 envelope removed", await RunAsync(smtpd, "remove", removeBy == "evpid" ? evpid : msgid));
        int removed = Tries(smtpd, evpid);
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.InRange(Tries(smtpd, evpid), removed, removed + 1); // an attempt under way at that moment
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
        Assert.DoesNotContain("result=\"PermFail\"", smtpd.Log);
        Assert.Equal(0, grey.Messages);
    }

    [Theory]
    [InlineData("mta.route", "far.example")]
    [InlineData("mda.deliver", "localhost")]
    public async Task An_unexpected_error_on_the_way_to_delivery_is_logged_and_leaves_the_envelope_pending_with_it(string point, string domain)
    {
        // alice -> us -> (an exception thrown where the MTA plans the route, or where the MDA
        // delivers): never a silent "inflight".
        int closed = SmtpdInstance.FreePort();
        await using var smtpd = await RelayingToAsync(closed, s => s.Environment["SMTPD_CHAOS"] = $"fail=0,delay=0,throw={point}");
        await SendAsync(smtpd.Port, $"{TestUsers.Recipient}@{domain}");
        // The mta line quotes the result, the mda line does not (as OpenSMTPD's).
        await smtpd.WaitForLogAsync(point.StartsWith("mta", StringComparison.Ordinal) ? "result=\"TempFail\"" : "result=TempFail", Timeout);

        Assert.Contains("unexpected error", smtpd.Log);
        Assert.Contains($"chaos: injected exception at {point}", smtpd.Log);
        var line = Assert.Single(await Smtpctl.PendingQueueAsync(smtpd));
        Assert.Equal("pending", line[11]);
        Assert.True(int.Parse(line[10]) >= 1, string.Join('|', line));
        Assert.Equal($"Internal error: chaos: injected exception at {point}", line[13]);
        Assert.Equal("1 envelope removed", await RunAsync(smtpd, "remove", line[0]));
    }

    [Fact]
    public async Task An_envelope_removed_while_its_attempt_waits_for_the_peer_is_never_sent()
    {
        // alice -> us -> a slow peer (banner after 6 s): the envelope is in flight when removed;
        // the MTA leaves it out before MAIL FROM, and the peer never sees it.
        await using var peer = new ScriptedPeer { BannerDelay = TimeSpan.FromSeconds(6) }.Start();
        await using var smtpd = await RelayingToAsync(peer.Port);
        await SendAsync(smtpd.Port, "carol@slow.example");
        string[] line = [];
        await WaitUntilAsync(async () => (line = (await Smtpctl.QueueAsync(smtpd)).SingleOrDefault() ?? []).Length > 11 && line[11] == "inflight",
            "the envelope in flight", Timeout);

        Assert.Equal("1 envelope removed", await RunAsync(smtpd, "remove", line[0]));
        Assert.Empty(await Smtpctl.QueueAsync(smtpd));
        await smtpd.WaitForLogAsync($"{line[0]} queue remove", Timeout);
        Assert.Contains("mta cancelled", smtpd.Log);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(0, peer.Count("MAIL"));
        Assert.Empty(peer.Messages);
        Assert.DoesNotContain("result=", smtpd.Log);
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_envelope_paused_while_in_flight_is_held_once_its_attempt_is_over()
    {
        // alice -> us -> a slow peer that then refuses (421): paused during the attempt, the
        // envelope comes back pending, paused, with the error, and is not tried again until resumed.
        await using var peer = new ScriptedPeer { BannerDelay = TimeSpan.FromSeconds(4), Banner = "421 4.3.2 Busy, try later" }.Start();
        await using var smtpd = await RelayingToAsync(peer.Port);
        await SendAsync(smtpd.Port, "dave@slow.example");
        string[] line = [];
        await WaitUntilAsync(async () => (line = (await Smtpctl.QueueAsync(smtpd)).SingleOrDefault() ?? []).Length > 11 && line[11] == "inflight",
            "the envelope in flight", Timeout);

        Assert.Equal("1 envelope paused", await RunAsync(smtpd, "pause", "envelope", line[0]));
        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        await Task.Delay(TimeSpan.FromSeconds(6)); // past the route's first penalties
        Assert.Equal(1, peer.Connections);
        line = Assert.Single(await Smtpctl.QueueAsync(smtpd));
        Assert.Equal(("pending", "1"), (line[11], line[10]));
        Assert.Contains("suspend", line[3].Split(','));
        Assert.Contains("421 4.3.2 Busy, try later", line[13]);

        Assert.Equal("1 envelope resumed", await RunAsync(smtpd, "resume", "envelope", line[0]));
        await WaitUntilAsync(() => peer.Connections > 1, "a new attempt after resume", Timeout);
    }
}
