namespace Smtpd.Tests.EndToEnd;

// Path: raw client in an open session → smtpd gets SIGTERM → the client is told 421 and smtpd
// exits 0; a message accepted before stays queued for the next start.
public sealed class ShutdownTests
{
    [Fact]
    public async Task Sigterm_tells_open_sessions_421_and_exits_cleanly()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        Assert.StartsWith("220", await d.ReadReplyAsync());
        Assert.StartsWith("250", await d.CommandAsync("EHLO shutdown.test"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@shutdown.test>"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<b@remote.example>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync("Subject: kept\r\n\r\nkept\r\n."));

        await smtpd.StopAsync();
        Assert.StartsWith("421 4.3.2", await d.ReadReplyAsync());
        Assert.Equal(0, smtpd.Process.ExitCode);
        Assert.Contains("smtpd exiting", smtpd.Log);

        await smtpd.StartAsync();
        Assert.Contains("1 envelope(s) in queue", smtpd.Log);
    }

    [Fact]
    public async Task Verbose_flag_adds_debug_lines()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync("-v");
        Assert.Contains("debug: smtp: listening on 127.0.0.1:", smtpd.Log);
        await smtpd.StopAsync();

        await smtpd.StartAsync();
        Assert.DoesNotContain("debug:", smtpd.Log);
    }

    [Fact]
    public async Task Second_daemon_on_the_same_spool_refuses_to_start()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        // Same spool, another port: the second one must not run.
        string other = Path.Combine(smtpd.Dir, "other.conf");
        await File.WriteAllTextAsync(other, $"listen on 127.0.0.1 port {SmtpdInstance.FreePort()}\naction \"out\" relay\nmatch from local for any action \"out\"\n");
        var psi = SmtpdInstance.StartInfo("-d", "-f", other);
        psi.Environment["SMTPD_SPOOL"] = smtpd.Spool;
        using var p = System.Diagnostics.Process.Start(psi)!;
        string stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("another smtpd is already using the spool", stderr);
    }
}
