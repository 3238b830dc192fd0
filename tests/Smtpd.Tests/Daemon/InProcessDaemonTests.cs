using System.Net;
using Smtpd.Config;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Daemon;

// Path of the mail: raw client → SmtpdDaemon hosted in the test process (127.0.0.1, free port)
// → fs queue in a temp spool → scheduler → relay action (the MTA keeps it queued for now).
public sealed class InProcessDaemonTests : IAsyncLifetime
{
    static readonly ConfigLocation L = new("test", 1);
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-inproc-").FullName;
    readonly StringWriter _log = new();
    SmtpdDaemon _daemon = null!;
    int _port;

    public async Task InitializeAsync()
    {
        _port = SmtpdInstance.FreePort();
        var ruleset = new Ruleset
        {
            Hostname = "mx.test",
            Listeners = [new ListenerConfig("127.0.0.1", _port, null, null, L)],
            Actions = new Dictionary<string, ActionConfig> { ["out"] = new("out", DeliveryMethod.Relay, null, null, null, null, null, null, null, L) },
            Rules = [new Rule(false, FromCondition.Any, ForCondition.Any, null, "out", L)],
        };
        var paths = new SmtpdPaths(Path.Combine(_dir, "spool"), Path.Combine(_dir, "sock"), Path.Combine(_dir, "mail"));
        _daemon = new SmtpdDaemon(ruleset, paths, new SmtpdLog(foreground: true, verbose: true, TextWriter.Synchronized(_log)));
        await _daemon.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    [Fact]
    public async Task Accepted_message_is_committed_to_the_queue_with_one_envelope_per_recipient()
    {
        await using var d = await SmtpDialogue.ConnectAsync(_port);
        Assert.StartsWith("220 mx.test ESMTP", await d.ReadReplyAsync());
        string ehlo = await d.CommandAsync("EHLO c.test");
        Assert.True(ehlo.StartsWith("250"), ehlo + "\n" + _log);
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@c.test>"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<x@remote.test>"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<y@remote.test>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        string reply = await d.CommandAsync("Subject: t\r\n\r\nhello\r\n.");
        Assert.Matches("^250 2.0.0 [0-9a-f]{8} Message accepted for delivery$", reply);
        string msgid = reply.Split(' ')[2];

        string dir = Path.Combine(_dir, "spool", "queue", msgid[..2], msgid);
        Assert.True(File.Exists(Path.Combine(dir, "message")));
        var envelopes = Directory.GetFiles(dir).Where(f => Path.GetFileName(f).Length == 16).ToList();
        Assert.Equal(2, envelopes.Count);
        string text = await File.ReadAllTextAsync(envelopes[0]);
        Assert.Contains("type: mta", text);
        Assert.Contains("dispatcher: out", text);
        Assert.Contains("sender: a@c.test", text);
        string message = await File.ReadAllTextAsync(Path.Combine(dir, "message"));
        Assert.StartsWith("Received: from c.test (localhost [127.0.0.1])\r\n\tby mx.test (smtpd) with ESMTP id " + msgid, message);
        // A listener on 127.0.0.1 is a submission listener for OpenSMTPD: Date: and Message-ID: are
        // added after the client's headers when they lack them.
        Assert.Matches("\r\nSubject: t\r\nDate: [^\r]+\r\nMessage-ID: <[0-9a-f]{16}@mx\\.test>\r\n\r\nhello\r\n$", message);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_dir, "spool", "incoming")));
    }

    [Fact]
    public async Task Client_that_disconnects_in_data_leaves_nothing()
    {
        var d = await SmtpDialogue.ConnectAsync(_port);
        await d.ReadReplyAsync();
        await d.CommandAsync("HELO c.test");
        await d.CommandAsync("MAIL FROM:<a@c.test>");
        await d.CommandAsync("RCPT TO:<x@remote.test>");
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        await d.SendAsync("Subject: cut\r\n\r\npartial");
        await d.DisposeAsync();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!_log.ToString().Contains("reason=disconnect") && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Contains("reason=disconnect", _log.ToString());
        Assert.Empty(Directory.GetDirectories(Path.Combine(_dir, "spool", "incoming")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_dir, "spool", "queue")));
    }
}
