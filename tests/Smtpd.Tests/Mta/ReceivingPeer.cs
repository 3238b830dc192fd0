using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

/// <summary>A second smtpd that receives relayed mail: anything for any domain goes to the maildir of its user.</summary>
public static class ReceivingPeer
{
    /// <param name="address">The address it listens on (relay tests give each MX its own).</param>
    /// <param name="port">A fixed port (every MX of a DNS test on the same one); by default a free one.</param>
    /// <param name="globals">Lines before the listener, e.g. <c>max-message-size 100</c>.</param>
    public static async Task<SmtpdInstance> StartAsync(string address = "127.0.0.1", int? port = null, string globals = "")
    {
        var peer = new SmtpdInstance(port: port);
        peer.WriteConfig($$"""
            {{globals}}
            listen on {{address}} port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for any action "local"
            """);
        await peer.StartAsync();
        return peer;
    }
}
