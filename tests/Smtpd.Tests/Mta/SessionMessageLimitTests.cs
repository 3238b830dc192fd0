using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

// A relay session carries at most 100 messages, as OpenSMTPD's mta does: a second smtpd (which,
// as OpenSMTPD, answers a 101st MAIL in one session with 452 4.5.3) gets the 101st message over
// a fresh session, not a deferral.
public sealed class SessionMessageLimitTests
{
    [Fact]
    public async Task The_101st_message_to_a_peer_goes_over_a_fresh_session_without_a_deferral()
    {
        var peer = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "in" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "relay.example" action "in"
            """);
        await using var _peer = peer;
        await peer.StartAsync();
        var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            match from any for domain "relay.example" action "out"
            """);
        await using var _smtpd = smtpd;
        await smtpd.StartAsync();
        // One message at a time, each relayed before the next is sent: the MTA's one session to
        // the peer is reused for every message, up to its limit.
        const int Count = 105;
        string maildir = Path.Combine(peer.Maildirs, TestUsers.Recipient);
        for (int i = 0; i < Count; i++)
        {
            Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", $"{TestUsers.Recipient}@relay.example", $"one by one {i}", "body"));
            await Mailboxes.WaitForMaildirAsync(maildir, i + 1, TimeSpan.FromSeconds(30));
        }

        Assert.Equal(Count, Directory.GetFiles(Path.Combine(maildir, "new")).Length);
        Assert.DoesNotContain("result=\"TempFail\"", smtpd.Log);
        Assert.Contains("reason=max messages per session messages=100", smtpd.Log);
    }
}
