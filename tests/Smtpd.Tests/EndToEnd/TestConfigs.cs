namespace Smtpd.Tests.EndToEnd;

/// <summary>Configurations several end-to-end tests share ({port} and {dir} are filled in by <see cref="SmtpdInstance"/>).</summary>
public static class TestConfigs
{
    /// <summary>Accepts mail from local clients for any domain and queues it for relaying, which
    /// is not built yet: mail stays in the queue, so tests can look at it there.</summary>
    public const string RelayOnly = """
        listen on 127.0.0.1 port {port}
        action "out" relay
        match from local for any action "out"
        """;
}
