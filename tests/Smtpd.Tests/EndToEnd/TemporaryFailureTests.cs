namespace Smtpd.Tests.EndToEnd;

// Path: raw client → smtpd whose queue cannot be written (incoming/ replaced by a file, as an
// unusable disk would be) → the client gets a 4xx, never a 5xx; once the spool is repaired
// the same session delivers normally.
public sealed class TemporaryFailureTests
{
    [Fact]
    public async Task Queue_write_failure_is_451_and_the_session_recovers()
    {
        await using var smtpd = new SmtpdInstance(TestConfigs.RelayOnly);
        await smtpd.StartAsync();
        string incoming = Path.Combine(smtpd.Spool, "incoming");
        Directory.Delete(incoming);
        await File.WriteAllTextAsync(incoming, "not a directory");

        await using var d = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO tempfail.test");
        await d.CommandAsync("MAIL FROM:<a@tempfail.test>");
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<b@remote.example>"));
        Assert.StartsWith("451 4.3.0", await d.CommandAsync("DATA"));

        File.Delete(incoming);
        Directory.CreateDirectory(incoming);
        // Repaired as an admin would: owned by the user the daemon runs as (root started it as _smtpd).
        var (code, output) = await ExternalTool.RunAsync("chown", ["--reference", smtpd.Spool, incoming]);
        Assert.True(code == 0, output);
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<a@tempfail.test>"));
        Assert.StartsWith("250", await d.CommandAsync("RCPT TO:<b@remote.example>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250 2.0.0", await d.CommandAsync("Subject: x\r\n\r\nx\r\n."));
    }
}
