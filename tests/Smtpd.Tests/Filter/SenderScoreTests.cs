using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter;

// Path of the mail: SmtpDialogue from 127.0.0.1, .2 or .3 → smtpd on 127.0.0.1:{port} (listener
// "filter senderscore") ⇄ Debian's filter-senderscore 0.1.1, unchanged, over smtpd-filters(7) →
// fs queue → maildir {dir}/maildirs/USER.
// The filter asks the system resolver for A.B.C.D.score.senderscore.com and reads the score from
// the last octet of the answer. So that no test needs the internet, it runs in a private mount
// namespace (unshare -r -m) where /etc/hosts answers for 127.0.0.1 (score 20) and 127.0.0.2
// (score 60), and /etc/resolv.conf names a loopback address where no DNS server listens, so
// 127.0.0.3 has no score at all.
public sealed class SenderScoreTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    static readonly string Me = EndToEnd.TestUsers.Recipient;

    static async Task<string> SendFromAsync(SmtpdInstance smtpd, string from, string subject)
    {
        await using var c = await SmtpDialogue.ConnectAsync(smtpd.Port, from: from);
        Assert.StartsWith("220", await c.ReadReplyAsync());
        Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
        Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        Assert.StartsWith("250", await c.CommandAsync($"Subject: {subject}\r\n\r\nfrom {from}\r\n."));
        return await c.CommandAsync("QUIT");
    }

    [Fact]
    public async Task DebiansFilterSenderscoreBlocksJunksOrPassesByReputation()
    {
        FilterPeers.Require(FilterPeers.SenderScore, "Debian's opensmtpd-filter-senderscore");
        FilterPeers.Require("unshare", "gives the filter its own /etc/hosts and /etc/resolv.conf");
        await using var smtpd = new SmtpdInstance();
        string hosts = Path.Combine(smtpd.Dir, "hosts"), resolv = Path.Combine(smtpd.Dir, "resolv.conf");
        await File.WriteAllTextAsync(hosts, "127.0.4.20 1.0.0.127.score.senderscore.com\n127.0.4.60 2.0.0.127.score.senderscore.com\n");
        await File.WriteAllTextAsync(resolv, "nameserver 127.255.255.254\noptions timeout:1 attempts:1\n");
        string command = $"unshare -r -m sh -c 'mount --bind {hosts} /etc/hosts && mount --bind {resolv} /etc/resolv.conf && " +
                         $"exec {FilterPeers.SenderScore} -blockBelow 50 -junkBelow 80 -scoreHeader'";
        smtpd.WriteConfig($$"""
            filter "senderscore" proc-exec "{{command}}"
            listen on 127.0.0.1 port {port} filter "senderscore"
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        await smtpd.StartAsync();

        // Score 20 is below -blockBelow 50: the filter disconnects at connect, with its own reply.
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.Equal("550 your IP reputation is too low for this MX", await c.ReadReplyAsync());
            Assert.Null(await c.ReadReplyAsync());
        }
        // Score 60 passes but is below -junkBelow 80: delivered as junk, with the score.
        Assert.StartsWith("221", await SendFromAsync(smtpd, "127.0.0.2", "score 60"));
        // No score (the lookup fails): neither blocked nor junked.
        Assert.StartsWith("221", await SendFromAsync(smtpd, "127.0.0.3", "no score"));

        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 2, Wait);
        var mails = files.Select(File.ReadAllText).ToList();
        Assert.Equal(2, mails.Count);
        string junk = mails.Single(m => m.Contains("Subject: score 60"));
        Assert.Contains("X-Spam: Yes\n", junk);
        Assert.Contains("X-SenderScore: 60\n", junk);
        string unknown = mails.Single(m => m.Contains("Subject: no score"));
        Assert.DoesNotContain("X-Spam", unknown);
        Assert.DoesNotContain("X-SenderScore", unknown);
        // Its own account of what it looked up, on stderr, reaches our log.
        Assert.Contains("link-connect addr=127.0.0.1 score=20", smtpd.Log);
        Assert.Contains("link-connect addr=127.0.0.2 score=60", smtpd.Log);
    }
}
