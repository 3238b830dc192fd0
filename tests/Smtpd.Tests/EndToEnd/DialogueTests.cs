namespace Smtpd.Tests.EndToEnd;

// Path of the mail: raw TCP client → smtpd on 127.0.0.1:{port} (a maildir action; nothing is
// delivered unless a test completes DATA). Each test checks the replies a client sees.
public sealed class DialogueTests : IAsyncLifetime
{
    const string Config = """
        listen on 127.0.0.1 port {port}
        max-message-size 2000
        action "local" maildir "{dir}/maildirs/%{user.username}"
        action "out" relay
        match from local for local action "local"
        match from local for domain "relay.example" action "out"
        match from any for domain "blocked.example" reject
        """;

    readonly SmtpdInstance _smtpd = new(Config);
    static string Me => TestUsers.Recipient;

    public Task InitializeAsync() => _smtpd.StartAsync();
    public async Task DisposeAsync() => await _smtpd.DisposeAsync();

    async Task<SmtpDialogue> Connect()
    {
        var d = await SmtpDialogue.ConnectAsync(_smtpd.Port);
        Assert.StartsWith("220 ", await d.ReadReplyAsync());
        return d;
    }

    [Fact]
    public async Task Ehlo_advertises_the_extensions()
    {
        await using var d = await Connect();
        string ehlo = await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250-", ehlo);
        foreach (var ext in new[] { "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 2000" })
            Assert.Contains("250-" + ext, ehlo.Replace("250 ", "250-"));
    }

    [Fact]
    public async Task Pipelined_commands_get_replies_in_order()
    {
        await using var d = await Connect();
        await d.SendAsync($"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<{Me}@localhost>\r\nRCPT TO:<nosuchuser-xyz@localhost>\r\nRCPT TO:<{Me}+tag@localhost>\r\nDATA\r\n");
        Assert.StartsWith("250-", await d.ReadReplyAsync());
        Assert.StartsWith("250 2.0.0", await d.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await d.ReadReplyAsync());
        Assert.StartsWith("550 5.1.1", await d.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await d.ReadReplyAsync());
        Assert.StartsWith("354", await d.ReadReplyAsync());
        await d.SendAsync("Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n");
        Assert.Matches(@"^250 2\.0\.0 [0-9a-f]{8} Message accepted", await d.ReadReplyAsync());
        Assert.StartsWith("221", await d.ReadReplyAsync());
    }

    [Theory]
    [InlineData("MAIL FROM:<a@example.org>", "503 5.5.1")]      // before HELO
    [InlineData("RCPT TO:<a@example.org>", "503 5.5.1")]
    [InlineData("DATA", "503 5.5.1")]
    [InlineData("FROBNICATE", "500 5.5.1")]
    [InlineData("VRFY root", "502 5.5.1")]
    [InlineData("NOOP", "250 2.0.0")]
    [InlineData("HELP", "214")]
    [InlineData("HELO", "501 5.5.1")]
    [InlineData("RSET now", "500 5.5.4")]
    [InlineData("QUIT now", "500 5.5.4")]
    [InlineData("MAIL", "500 5.5.1")]
    public async Task Commands_before_a_transaction(string command, string expected)
    {
        await using var d = await Connect();
        Assert.StartsWith(expected, await d.CommandAsync(command));
    }

    [Theory]
    [InlineData("MAIL FROM:<a@example.org>", "503 5.5.1")]        // nested MAIL
    [InlineData("DATA", "503 5.5.4")]                             // no RCPT yet
    [InlineData("RCPT FROM:<a@localhost>", "500 5.5.1")]           // "RCPT TO:" is the verb
    [InlineData("RCPT TO:<bad address@localhost>", "501 5.1.3")]
    [InlineData("RCPT TO:<>", "501 5.1.3")]
    [InlineData("RCPT TO:<nosuchuser-xyz@localhost>", "550 5.1.1")]
    [InlineData("RCPT TO:<someone@elsewhere.example>", "550 5.7.1")] // relaying denied
    [InlineData("RCPT TO:<someone@blocked.example>", "550 5.7.1")]   // explicit reject rule
    [InlineData("RCPT TO:<someone@relay.example>", "250 2.1.5")]     // relay rule accepts
    [InlineData("RCPT TO:<a@localhost> FOO=BAR", "555 5.5.4")]
    public async Task Commands_inside_a_transaction(string command, string expected)
    {
        await using var d = await Connect();
        Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith(expected, await d.CommandAsync(command));
    }

    [Theory]
    [InlineData("MAIL FROM:<a b@example.org>", "553 5.1.0")]
    [InlineData("MAIL FROM:a@example.org", "553 5.1.0")]
    [InlineData("MAIL TO:<a@example.org>", "500 5.5.1")]
    [InlineData("MAIL FROM:<a@example.org> SIZE=999999", "552 5.3.4")]
    [InlineData("MAIL FROM:<a@example.org> SIZE=100", "250 2.0.0")]
    [InlineData("MAIL FROM:<a@example.org> BODY=8BITMIME", "250 2.0.0")]
    [InlineData("MAIL FROM:<a@example.org> AUTH=<>", "555 5.5.4")]
    public async Task Mail_from_syntax_and_size(string command, string expected)
    {
        await using var d = await Connect();
        Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
        Assert.StartsWith(expected, await d.CommandAsync(command));
    }

    [Fact]
    public async Task Oversize_data_is_refused_at_the_end_and_the_session_goes_on()
    {
        await using var d = await Connect();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync("MAIL FROM:<a@example.org>");
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{Me}@localhost>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        await d.SendAsync("Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 70) + "\r\n", 100)) + ".\r\n");
        Assert.StartsWith("552 5.3.4", await d.ReadReplyAsync());
        Assert.StartsWith("250", await d.CommandAsync("NOOP"));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_smtpd.Spool, "queue")));
    }

    [Fact]
    public async Task Too_many_errors_disconnects()
    {
        await using var d = await Connect();
        var replies = new List<string>();
        for (int i = 0; i < 12; i++)
        {
            await d.SendAsync("BOGUS\r\n");
            string? reply = await d.ReadReplyAsync();
            if (reply is null) break;
            replies.Add(reply);
            if (reply.StartsWith("421")) break;
            if (reply.StartsWith("500") && replies.Count == 10) replies.Add(await d.ReadReplyAsync() ?? "(closed)");
            if (replies[^1].StartsWith("421")) break;
        }
        // Ten errors, then 421 and the connection is closed.
        Assert.StartsWith("421 4.7.0", replies[^1]);
        Assert.True(replies.Count == 11, string.Join(" | ", replies));
        Assert.Null(await d.ReadReplyAsync());
    }

    [Fact]
    public async Task Too_long_command_line_is_refused_and_closed()
    {
        await using var d = await Connect();
        await d.SendAsync("NOOP " + new string('x', 10000) + "\r\n");
        Assert.StartsWith("500 5.5.2", await d.ReadReplyAsync());
        Assert.Null(await d.ReadReplyAsync());
    }

    [Fact]
    public async Task Data_smuggling_with_bare_lf_dot_is_one_message()
    {
        await using var d = await Connect();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync("MAIL FROM:<a@example.org>");
        await d.CommandAsync($"RCPT TO:<{Me}@localhost>");
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        await d.SendAsync("Subject: smuggle\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@localhost>\r\nDATA\r\n");
        await d.SendAsync("evil body\r\n.\r\n");
        Assert.StartsWith("250 2.0.0", await d.ReadReplyAsync());
        // Nothing else was answered: the smuggled commands were message content.
        Assert.StartsWith("250 2.0.0 Ok", await d.CommandAsync("NOOP"));
        await _smtpd.WaitForLogAsync("smtp message msgid=", TimeSpan.FromSeconds(10));
        Assert.Equal(1, SmtpdInstance.Occurrences(_smtpd.Log, "smtp message msgid="));
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_transaction_leaves_nothing()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        foreach (bool inData in new[] { false, true })
        {
            await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
            await d.ReadReplyAsync();
            await d.CommandAsync("EHLO client.example");
            await d.CommandAsync("MAIL FROM:<a@example.org>");
            await d.CommandAsync("RCPT TO:<b@far.example>");
            if (inData)
            {
                Assert.StartsWith("354", await d.CommandAsync("DATA"));
                await d.SendAsync("Subject: cut short\r\n\r\nhalf a mess");
            }
        }
        await smtpd.WaitForLogAsync("smtp disconnected", TimeSpan.FromSeconds(10), count: 2);
        await Task.Delay(300);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(smtpd.Spool, "incoming")));
        Assert.Empty(Directory.GetFiles(Path.Combine(smtpd.Spool, "queue"), "*", SearchOption.AllDirectories));
        var (_, queue) = await Control.Smtpctl.RunAsync(smtpd, "show", "queue");
        Assert.Equal("", queue.Trim());
        var (_, stats) = await Control.Smtpctl.RunAsync(smtpd, "show", "stats");
        Assert.DoesNotContain("scheduler.envelope=1", stats);
        Assert.DoesNotContain("smtp.message=", stats);
    }
}
