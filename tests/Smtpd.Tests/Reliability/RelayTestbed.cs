using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;

namespace Smtpd.Tests.Reliability;

/// <summary>
/// The smtpd under test with somewhere to relay to: a real DNS server (dnsmasq) whose MX for
/// relay.test points at a second smtpd on loopback, which stores what it receives in maildirs.
/// </summary>
public sealed class RelayTestbed : IAsyncDisposable
{
    RelayTestbed(Dnsmasq dns, SmtpdInstance peer, SmtpdInstance smtpd) { Dns = dns; Peer = peer; Smtpd = smtpd; }

    public Dnsmasq Dns { get; }
    public SmtpdInstance Peer { get; }
    /// <summary>Configured and set to resolve through <see cref="Dns"/>, not started yet.</summary>
    public SmtpdInstance Smtpd { get; }

    public static async Task<RelayTestbed> CreateAsync(string config)
    {
        int mxPort = SmtpdInstance.FreePort();
        var dns = new Dnsmasq(["relay.test"], ["mx-host=relay.test,mx.relay.test,10", "host-record=mx.relay.test,127.0.0.1"]);
        var peer = new SmtpdInstance(port: mxPort);
        peer.WriteConfig("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for domain "relay.test" action "local"
            """);
        await peer.StartAsync();
        var smtpd = new SmtpdInstance(config);
        smtpd.Environment["SMTPD_RESOLVER"] = dns.Resolver;
        smtpd.Environment["SMTPD_MTA_PORT"] = mxPort.ToString();
        smtpd.Environment["SMTPD_MTA_TIMEOUT"] = "10";
        return new RelayTestbed(dns, peer, smtpd);
    }

    public async ValueTask DisposeAsync()
    {
        await Smtpd.DisposeAsync();
        await Peer.DisposeAsync();
        await Dns.DisposeAsync();
    }
}
