namespace Smtpd.Tests.EndToEnd;

// A second smtpd on a port the first listens on must not start (OpenSMTPD: "address already in
// use"); with SO_REUSEPORT, which .NET's ReuseAddress option also sets on Linux, it started and the
// kernel shared the first one's clients between the two.
public sealed class PortInUseTests
{
    [Fact]
    public async Task A_second_daemon_on_the_same_port_refuses_to_start()
    {
        const string Config = """
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "example.org" action "local"
            """;
        var first = new SmtpdInstance(Config);
        await using var _first = first;
        await first.StartAsync();
        var second = new SmtpdInstance(Config, port: first.Port);
        await using var _second = second;

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        Assert.Contains($"cannot listen on 127.0.0.1:{first.Port}", refused.Message);
        Assert.Contains("in use", refused.Message);
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(first.Port, "alice@example.org", $"{TestUsers.Recipient}@example.org", "still the first's", "body"));
    }
}
