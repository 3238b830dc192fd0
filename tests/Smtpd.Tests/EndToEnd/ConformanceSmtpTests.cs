using MimeKit;

namespace Smtpd.Tests.EndToEnd;

// What clients and peers see, as OpenSMTPD 6.8 shows it (issue 18, items 5 to 8). Each test
// quotes what the real OpenSMTPD 6.8.0p2 answered or stored for the same dialogue, run by hand
// here with the same listeners (127.0.0.1 "listener.example", 127.0.0.2 "other.example").
//
//   client --SMTP--> smtpd 127.0.0.1:{port} (hostname listener.example: a submission listener)
//                    smtpd 127.0.0.2:{port} (hostname other.example)
//                      --> maildir of the test user (listener.example, other.example)
//                      --> mda "exit 67" (fail.example): a permanent failure, reported to the sender
public sealed class ConformanceSmtpTests : IAsyncLifetime
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    static string Me => TestUsers.Recipient;

    readonly SmtpdInstance _smtpd = new("""
        listen on 127.0.0.1 port {port} hostname listener.example
        listen on 127.0.0.2 port {port} hostname other.example
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "fail" mda "/bin/sh -c 'cat >/dev/null; exit 67'"
        match from any for domain "listener.example" action "local"
        match from any for domain "other.example" action "local"
        match from any for domain "fail.example" action "fail"
        match from any for domain "blocked.example" reject
        """);

    public Task InitializeAsync() => _smtpd.StartAsync();
    public async Task DisposeAsync() => await _smtpd.DisposeAsync();

    string Maildir => Path.Combine(_smtpd.Maildirs, Me);

    static MultipartReport Parts(MimeMessage report) => Assert.IsType<MultipartReport>(report.Body);

    async Task<SmtpDialogue> HelloAsync(string listener = "127.0.0.1")
    {
        var d = await SmtpDialogue.ConnectAsync(_smtpd.Port, to: listener);
        Assert.StartsWith("220", await d.ReadReplyAsync());
        Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
        return d;
    }

    async Task<string> DeliveredAsync(int count)
    {
        var files = await Mailboxes.WaitForMaildirAsync(Maildir, count, Timeout);
        return await File.ReadAllTextAsync(files.OrderBy(File.GetLastWriteTimeUtc).ThenBy(f => f).Last());
    }

    // OpenSMTPD 6.8, same dialogue on 127.0.0.1 "listener.example":
    //   MAIL FROM:<noat>                       250 2.0.0 Ok
    //   RCPT TO:<smtpdtest>                    250 2.1.5 Destination address valid: Recipient ok
    //   RCPT TO: <smtpdtest@listener.example>  250 2.1.5 Destination address valid: Recipient ok
    //   MAIL FROM: <a@b.example>               250 2.0.0 Ok
    //   RCPT TO:<nosuchuser>                   550 Invalid recipient: <nosuchuser@listener.example>
    // and stored "Return-Path: <noat@listener.example>", "To: smtpdtest@listener.example",
    // "From: noat@listener.example": a local part alone gets the listener's name, in the
    // envelope (smtp_mailaddr) and in From:, To: and Cc: (header_domain_append_callback).
    [Fact]
    public async Task Addresses_without_a_domain_get_the_listener_name_and_a_space_after_the_colon_is_accepted()
    {
        await using (var d = await HelloAsync())
        {
            Assert.StartsWith("250 2.0.0", await d.CommandAsync("MAIL FROM:<noat>"));
            Assert.StartsWith("250 2.1.5", await d.CommandAsync($"RCPT TO:<{Me}>"));
            Assert.Equal("550 5.1.1 Invalid recipient: <nosuchuser-xyz@listener.example>", await d.CommandAsync("RCPT TO:<nosuchuser-xyz>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync($"Subject: no domain\r\nTo: {Me}, Someone <other@x.example>\r\nCc: \"A B\" <ab>\r\nFrom: noat (me)\r\n\r\nbody\r\n."));
        }
        string mail = await DeliveredAsync(1);
        Assert.StartsWith("Return-Path: <noat@listener.example>\n", mail);
        Assert.Contains($"\nDelivered-To: {Me}@listener.example\n", mail);
        Assert.Contains($"\nTo: {Me}@listener.example, Someone <other@x.example>\n", mail);
        Assert.Contains("\nCc: \"A B\" <ab@listener.example>\n", mail);
        Assert.Contains("\nFrom: noat@listener.example (me)\n", mail);

        await using (var d = await HelloAsync())
        {
            Assert.StartsWith("250 2.0.0", await d.CommandAsync("MAIL FROM: <a@b.example>"));
            Assert.StartsWith("250 2.1.5", await d.CommandAsync($"RCPT TO: <{Me}@listener.example>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync("Subject: spaces\r\n\r\nbody\r\n."));
        }
        Assert.StartsWith("Return-Path: <a@b.example>\n", await DeliveredAsync(2));
    }

    // OpenSMTPD 6.8 names the recipient in every refusal at RCPT, with no enhanced code:
    //   RCPT TO:<nosuch@listener.example>  550 Invalid recipient: <nosuch@listener.example>
    //   RCPT TO:<x@elsewhere.example>      550 Invalid recipient: <x@elsewhere.example>
    //   RCPT TO:<x@blocked.example>        550 Invalid recipient: <x@blocked.example>
    // We say the same and keep an enhanced code (RFC 2034: it is announced): 5.1.1 for an unknown
    // user, 5.7.1 where no rule accepts the recipient or a reject rule matched (RFC 3463 tells the
    // sender which it is).
    [Fact]
    public async Task A_refused_recipient_is_named_in_the_reply()
    {
        await using var d = await HelloAsync();
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("550 5.1.1 Invalid recipient: <nosuch-xyz@listener.example>", await d.CommandAsync("RCPT TO:<nosuch-xyz@listener.example>"));
        Assert.Equal("550 5.7.1 Invalid recipient: <x@elsewhere.example>", await d.CommandAsync("RCPT TO:<x@elsewhere.example>"));
        Assert.Equal("550 5.7.1 Invalid recipient: <x@blocked.example>", await d.CommandAsync("RCPT TO:<x@blocked.example>"));
        Assert.StartsWith("250 2.1.5", await d.CommandAsync($"RCPT TO:<{Me}@listener.example>"));
    }

    // OpenSMTPD 6.8 drops Bcc: on every listener, and adds Date: and Message-ID: only on a local
    // one (the enqueue socket, 127.0.0.1, ::1) or port 587 (smtp_tx_dataline, listener->local):
    //   127.0.0.1 "listener.example": ... X-After: yes / Date: Mon, 7 Dec 2026 02:06:29 +0000 (UTC)
    //                                 / Message-ID: <136faa8f00b9f245@listener.example> / (blank) / body
    //   127.0.0.2 "other.example":    ... X-After: yes / (blank) / body
    [Fact]
    public async Task Bcc_is_removed_and_a_submission_listener_adds_date_and_message_id()
    {
        const string Message = "Subject: {0}\r\nBcc: hidden@x.example,\r\n  other-hidden@y.example\r\nX-After: yes\r\n\r\nbody\r\nBcc: in the body stays\r\n.";
        foreach (var (listener, subject) in new[] { ("127.0.0.1", "local listener"), ("127.0.0.2", "other listener") })
        {
            await using var d = await HelloAsync(listener);
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@b.example>"));
            Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{Me}@listener.example>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync(string.Format(Message, subject)));
        }
        var files = await Mailboxes.WaitForMaildirAsync(Maildir, 2, Timeout);
        var mails = files.Select(File.ReadAllText).ToList();
        string local = mails.Single(m => m.Contains("Subject: local listener")), other = mails.Single(m => m.Contains("Subject: other listener"));
        foreach (var mail in mails)
        {
            Assert.DoesNotContain("hidden", mail);
            Assert.Contains("\n\nbody\nBcc: in the body stays\n", mail);
        }
        Assert.Matches(@"\nX-After: yes\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\nMessage-ID: <[0-9a-f]{16}@listener\.example>\n\nbody\n", local);
        Assert.Contains("\nX-After: yes\n\nbody\n", other);
        Assert.DoesNotContain("\nDate:", other);
        Assert.DoesNotContain("\nMessage-ID:", other);

        // A message that has them keeps its own, once.
        await using (var d = await HelloAsync())
        {
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@b.example>"));
            Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{Me}@listener.example>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync("Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMESSAGE-ID: <own@client.example>\r\nSubject: own\r\n\r\nbody\r\n."));
        }
        string own = (await Mailboxes.WaitForMaildirAsync(Maildir, 3, Timeout)).Select(File.ReadAllText).Single(m => m.Contains("Subject: own"));
        Assert.Single(own.Split('\n'), l => l.StartsWith("Date:", StringComparison.OrdinalIgnoreCase));
        Assert.Single(own.Split('\n'), l => l.StartsWith("Message-ID:", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("\nMESSAGE-ID: <own@client.example>\n", own);
    }

    // Port 587 is a submission port wherever it listens (OpenSMTPD 6.8 on 127.0.0.1:587 "sub.example":
    // "Date: Mon, 7 Dec 2026 02:06:29 +0000 (UTC)", "Message-ID: <136faa960de96171@sub.example>").
    // 587 is a fixed port, so smtpd runs in a network namespace of the test's own, on 127.0.0.2,
    // which is no loopback listener of OpenSMTPD's kind: only the port makes it a submission one.
    //   client --SMTP--> [netns] smtpd 127.0.0.2:587 "sub.example" / 127.0.0.2:{port} "other.example" --> maildir
    [SkippableFact]
    public async Task Port_587_adds_date_and_message_id_and_another_port_on_the_same_address_does_not()
    {
        Skip.If(Mta.NetworkNamespace.Unavailable is not null, Mta.NetworkNamespace.Unavailable);
        await using var ns = await Mta.NetworkNamespace.CreateAsync("nameserver 127.0.0.1\n");
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.2 port 587 hostname sub.example
            listen on 127.0.0.2 port {port} hostname other.example
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for any action "local"
            """);
        smtpd.Wrapper.AddRange(ns.Enter);
        await smtpd.StartAsync();
        foreach (var (port, subject) in new[] { (587, "on 587"), (smtpd.Port, "on the other port") })
        {
            await using var d = SmtpDialogue.Over(await ns.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.0.2"), port)));
            Assert.StartsWith("220", await d.ReadReplyAsync());
            Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@b.example>"));
            Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\n\r\nbody\r\n."));
        }
        var mails = (await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 2, Timeout)).Select(File.ReadAllText).ToList();
        Assert.Matches(@"\nSubject: on 587\nDate: [^\n]+\nMessage-ID: <[0-9a-f]{16}@sub\.example>\n\nbody\n", mails.Single(m => m.Contains("Subject: on 587")));
        Assert.Contains("\nSubject: on the other port\n\nbody\n", mails.Single(m => m.Contains("Subject: on the other port")));
    }

    // With a data-line filter, what the filter gives back is edited (OpenSMTPD runs
    // smtp_tx_dataline on the filter's output): the filter sees Bcc:, the mailbox does not.
    //   client --SMTP--> smtpd 127.0.0.1 (filter "py": adds X-Test-Filter) --> maildir
    [Fact]
    public async Task A_filtered_message_loses_bcc_and_gets_date_and_message_id_too()
    {
        await using var smtpd = new SmtpdInstance($$"""
            filter "py" proc-exec "python3 {{Smtpd.Tests.Filter.FilterPeers.TestFilter}} {dir}/maildirs/reports.log"
            listen on 127.0.0.1 port {port} hostname listener.example filter "py"
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "listener.example" action "local"
            """);
        await smtpd.StartAsync();
        await using (var d = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await d.ReadReplyAsync());
            Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
            Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@b.example>"));
            Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{Me}@listener.example>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync("Subject: filtered\r\nBcc: hidden@x.example\r\nTo: bob\r\n\r\nbody\r\n."));
        }
        var files = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Timeout);
        string mail = await File.ReadAllTextAsync(files[0]);
        Assert.Contains("X-Test-Filter: seen\n", mail);
        Assert.DoesNotContain("hidden", mail);
        Assert.Matches(@"\nTo: bob@listener\.example\nDate: [^\n]+\nMessage-ID: <[0-9a-f]{16}@listener\.example>\n\nbody\n", mail);
    }

    // OpenSMTPD 6.8's report for a message received on 127.0.0.2 "other.example" (machine name
    // "vm"): "From: Mailer Daemon <MAILER-DAEMON@other.example>", "Reporting-MTA: dns;
    // other.example", and the whole original message (body included) in a part it labels
    // text/rfc822-headers, with RET=HDRS too. We send the whole message as message/rfc822 (RFC
    // 6522), its header only when the sender asked RET=HDRS (RFC 3461 4.3) or it is over 1 MiB.
    [Fact]
    public async Task A_report_comes_from_the_name_the_message_was_received_under_and_returns_the_whole_message()
    {
        async Task SendAsync(string ret, string subject, string body)
        {
            await using var d = await HelloAsync("127.0.0.2");
            Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{Me}@other.example>{ret}"));
            Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{Me}@fail.example>"));
            Assert.StartsWith("354", await d.CommandAsync("DATA"));
            Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\nX-Marker: original\r\n\r\n{body}\r\n."));
        }
        string big = string.Concat(Enumerable.Repeat(new string('b', 998) + "\r\n", 1100)); // 1.1 MB
        await SendAsync("", "whole", "the body of the whole one");
        await SendAsync(" RET=HDRS", "headers", "the body of the other one");
        await SendAsync("", "large", big + "end of the large one");

        var files = await Mailboxes.WaitForMaildirAsync(Maildir, 3, Timeout);
        // MimeKit's TextRfc822Headers is a MessagePart: the test checks the exact type of each below.
        var reports = files.Select(f => MimeMessage.Load(f)).ToDictionary(r => ((MessagePart)Parts(r)[2]).Message?.Subject ?? "");
        foreach (var report in reports.Values)
        {
            Assert.Equal($"MAILER-DAEMON@other.example", ((MailboxAddress)report.From[0]).Address);
            var status = Assert.IsType<MessageDeliveryStatus>(Parts(report)[1]);
            Assert.Equal("dns; other.example", status.StatusGroups[0]["Reporting-MTA"]);
        }
        var whole = Assert.IsType<MessagePart>(Parts(reports["whole"])[2]).Message!;
        Assert.Equal("original", whole.Headers["X-Marker"]);
        Assert.Equal("the body of the whole one", whole.TextBody?.Trim());
        Assert.Contains("Below is a copy of the original message:", Parts(reports["whole"])[0].ToString());

        var headers = Parts(reports["headers"])[2];
        Assert.IsType<TextRfc822Headers>(headers);
        Assert.DoesNotContain("the body of the other one", headers.ToString());
        Assert.Contains("Below is a copy of the original message headers:", Parts(reports["headers"])[0].ToString());

        var large = Parts(reports["large"])[2];
        Assert.IsType<TextRfc822Headers>(large);
        Assert.DoesNotContain("end of the large one", large.ToString());
    }
}
