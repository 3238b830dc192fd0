using Smtpd.Tests.Mta;

namespace Smtpd.Tests.SideBySide;

/// <summary>
/// A network and mount namespace where relaying by MX is real (<see cref="NetworkNamespace"/>):
/// <c>lo</c> only, /etc/resolv.conf naming 127.0.0.1, dnsmasq there serving <c>far.test MX 10
/// mx.far.test</c> and <c>mx.far.test A 127.0.0.2</c>, and a <see cref="ScriptedPeer"/> on
/// 127.0.0.2:25 recording what each server sends. The servers run inside through
/// <see cref="Pid"/>. 127.0.0.254 is added to lo: OpenSMTPD 6.8's resolver ignores a resolv.conf
/// whose only server is 127.0.0.1 when that is the only address it sees (ours needs no such help).
/// </summary>
public sealed class MxNamespace : IAsyncDisposable
{
    readonly NetworkNamespace _ns;
    readonly Dnsmasq _dns;

    public int Pid => _ns.Pid;
    public ScriptedPeer Mx { get; }

    public static string? Unavailable => !Dnsmasq.Available ? "dnsmasq is not installed" : NetworkNamespace.Unavailable;

    MxNamespace(NetworkNamespace ns, Dnsmasq dns, ScriptedPeer mx) => (_ns, _dns, Mx) = (ns, dns, mx);

    public static async Task<MxNamespace> CreateAsync()
    {
        var ns = await NetworkNamespace.CreateAsync("nameserver 127.0.0.1\n", "127.0.0.1 localhost\n");
        try
        {
            var (code, _, err) = await ns.RunAsync("ip", ["addr", "add", "127.0.0.254/32", "dev", "lo"]);
            if (code != 0) throw new InvalidOperationException($"ip addr add: {err}");
            var dns = new Dnsmasq(["far.test"], ["mx-host=far.test,mx.far.test,10", "host-record=mx.far.test,127.0.0.2"], ns);
            var mx = await ns.InsideAsync(() => new ScriptedPeer("127.0.0.2", 25) { Extensions = ["8BITMIME", "SIZE 10000000", "ENHANCEDSTATUSCODES"] }.Start());
            return new MxNamespace(ns, dns, mx);
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Mx.DisposeAsync();
        await _dns.DisposeAsync();
        await _ns.DisposeAsync();
    }
}
