using MimeKit;
using Smtpd.Tests.Mta;

namespace Smtpd.Tests.EndToEnd;

// DSN (RFC 3461) on the server side and in reports: NOTIFY, RET, ENVID, ORCPT; passed on to a
// next hop that offers DSN (Postfix's smtp-sink).
public sealed class DsnTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    static async Task<(SmtpdInstance Peer, SmtpdInstance Smtpd)> StartAsync()
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
            action "out" relay host smtp://127.0.0.1:{{peer.Port}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        return (peer, smtpd);
    }

    static async Task SendAsync(int port, string mailParams, string rcpt, string rcptParams)
    {
        await using var d = await SmtpDialogue.ConnectAsync(port);
        await d.ReadReplyAsync();
        Assert.Contains("250-DSN", await d.CommandAsync("EHLO client.example"));
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{TestUsers.Recipient}@localhost> {mailParams}".TrimEnd()));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}> {rcptParams}".TrimEnd()));
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync("Subject: dsn test\r\nX-Marker: original\r\n\r\nthe whole body\r\n."));
    }

    [Fact]
    public async Task Notify_never_suppresses_the_failure_report()
    {
        var (peer, smtpd) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;
        await SendAsync(smtpd.Port, "", "nobody@refused.example", "NOTIFY=NEVER");
        await smtpd.WaitForLogAsync("no failure report (NOTIFY=Never)", Timeout);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(Directory.Exists(Path.Combine(smtpd.Maildirs, TestUsers.Recipient)));
    }

    [Fact]
    public async Task Ret_full_and_envid_and_orcpt_appear_in_the_failure_report()
    {
        var (peer, smtpd) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;
        await SendAsync(smtpd.Port, "RET=FULL ENVID=QQ314159", "nobody@refused.example", "NOTIFY=FAILURE,DELAY ORCPT=rfc822;original+2Bme@refused.example");
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 1, Timeout);
        var report = MimeMessage.Load(files[0]);
        var multipart = Assert.IsType<MultipartReport>(report.Body);
        var status = Assert.IsType<MessageDeliveryStatus>(multipart[1]);
        Assert.Equal("QQ314159", status.StatusGroups[0]["Original-Envelope-Id"]);
        var recipient = status.StatusGroups.First(g => g.Contains("Final-Recipient"));
        Assert.Equal("rfc822;original+me@refused.example", recipient["Original-Recipient"]);
        var returned = Assert.IsType<MessagePart>(multipart[2]);
        Assert.Contains("the whole body", returned.Message!.TextBody);
    }

    [Fact]
    public async Task Notify_success_gives_a_delivered_report_for_local_mail()
    {
        var (peer, smtpd) = await StartAsync();
        await using var _ = peer;
        await using var __ = smtpd;
        await SendAsync(smtpd.Port, "", $"{TestUsers.Recipient}@localhost", "NOTIFY=SUCCESS");
        // root receives the message itself and the success report.
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 2, Timeout);
        var report = files.Select(f => MimeMessage.Load(f)).Single(m => m.Body is MultipartReport);
        Assert.Equal("Delivery status notification: delivered", report.Subject);
        var status = Assert.IsType<MessageDeliveryStatus>(Assert.IsType<MultipartReport>(report.Body)[1]);
        var recipient = status.StatusGroups.First(g => g.Contains("Final-Recipient"));
        Assert.Equal("delivered", recipient["Action"]);
        Assert.Equal("2.0.0", recipient["Status"]);
    }

    [Fact]
    public async Task Bad_dsn_parameters_are_refused()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("501 5.5.4", await d.CommandAsync("MAIL FROM:<a@example.org> RET=MAYBE"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@example.org> RET=HDRS"));
        Assert.StartsWith("501 5.5.4", await d.CommandAsync("RCPT TO:<b@far.example> NOTIFY=NEVER,SUCCESS"));
        Assert.StartsWith("501 5.5.4", await d.CommandAsync("RCPT TO:<b@far.example> NOTIFY=SOMETIMES"));
        Assert.StartsWith("501 5.5.4", await d.CommandAsync("RCPT TO:<b@far.example> ORCPT=nosemicolon"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<b@far.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@far.example"));
    }

    [SkippableFact]
    public async Task Dsn_parameters_are_passed_to_a_next_hop_that_offers_dsn()
    {
        Skip.IfNot(SmtpSink.Available, "postfix's smtp-sink is not installed");
        int port = SmtpdInstance.FreePort();
        await using var sink = new SmtpSink("127.0.0.1", port);
        await using var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            action "out" relay host smtp://127.0.0.1:{{port}}
            match from local for local action "local"
            match from local for any action "out"
            """);
        await smtpd.StartAsync();
        await SendAsync(smtpd.Port, "RET=HDRS ENVID=ABC123", "far@sink.example", "NOTIFY=SUCCESS ORCPT=rfc822;far@sink.example");
        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        string dumped = await File.ReadAllTextAsync(Assert.Single(sink.Messages));
        Assert.Contains($"X-Mail-Args: <{TestUsers.Recipient}@localhost> RET=HDRS ENVID=ABC123", dumped);
        Assert.Contains("X-Rcpt-Args: <far@sink.example> NOTIFY=SUCCESS ORCPT=rfc822;far@sink.example", dumped);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(Directory.Exists(Path.Combine(smtpd.Maildirs, TestUsers.Recipient))); // the next hop reports success, not us
    }
}
