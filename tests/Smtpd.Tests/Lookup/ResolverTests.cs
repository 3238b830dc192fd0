using System.Net;
using Smtpd.Lookup.Dns;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Mta;

namespace Smtpd.Tests.Lookup;

// The daemon's one resolver: resolv.conf and /etc/hosts as the system reads them, and clients'
// reverse names (rdns, fcrdns) as sessions, Received: and built-in filters see them.
public sealed class ResolverTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public void Resolv_conf_gives_servers_in_order_and_its_options()
    {
        var conf = ResolvConf.Parse("""
            # a comment
            search example.org
            nameserver 127.0.0.1
            nameserver ::1
            ; another comment
            nameserver not-an-address
            nameserver 192.0.2.53
            nameserver 192.0.2.54
            options ndots:2 timeout:3 attempts:4 rotate edns0
            """);
        Assert.Equal(["127.0.0.1:53", "[::1]:53", "192.0.2.53:53"], conf.Servers.Select(s => s.ToString()));
        Assert.False(conf.DefaultServer);
        Assert.Equal(TimeSpan.FromSeconds(3), conf.Timeout);
        Assert.Equal(4, conf.Attempts);
        Assert.Equal(2, conf.Ndots);
        Assert.True(conf.Rotate);
    }

    [Fact]
    public void Resolv_conf_without_nameserver_means_the_local_one_with_the_c_library_defaults()
    {
        var conf = ResolvConf.Parse("search example.org\noptions timeout:99 attempts:0\n");
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 53)], conf.Servers);
        Assert.True(conf.DefaultServer);
        Assert.Equal(TimeSpan.FromSeconds(30), conf.Timeout); // glibc's ceilings and floors
        Assert.Equal(1, conf.Attempts);
        Assert.True(ResolvConf.Read("/nonexistent/resolv.conf").DefaultServer);
    }

    [Fact]
    public void Hosts_names_an_address_by_its_first_line_and_a_name_by_every_line()
    {
        var hosts = HostsFile.Parse("""
            127.0.0.1 localhost
            127.0.1.1 box.example.org box   # the machine
            ::1 localhost ip6-localhost
            127.0.0.1 second-name
            #192.0.2.1 commented.example
            """);
        Assert.Equal("localhost", hosts.NameOf(IPAddress.Loopback));
        Assert.Equal("localhost", hosts.NameOf(IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.Equal("box.example.org", hosts.NameOf(IPAddress.Parse("127.0.1.1")));
        Assert.Null(hosts.NameOf(IPAddress.Parse("192.0.2.1")));
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], hosts.AddressesOf("LOCALHOST"));
        Assert.Equal([IPAddress.Parse("127.0.1.1")], hosts.AddressesOf("box"));
        Assert.Null(hosts.AddressesOf("commented.example"));
    }

    [Fact]
    public async Task Hosts_answers_before_a_dns_that_refuses()
    {
        // /etc/hosts names 127.0.0.1 "localhost" and back: rdns and fcrdns hold with no DNS at all.
        string dir = Directory.CreateTempSubdirectory("resolver-").FullName;
        try
        {
            string hosts = Path.Combine(dir, "hosts");
            await File.WriteAllTextAsync(hosts, "127.0.0.1 localhost\n127.0.0.8 hosted.test\n");
            var resolver = new DnsResolver([IPEndPoint.Parse(RefusingDns.Shared.Resolver)], hosts: hosts, resolvConf: Path.Combine(dir, "none"));
            Assert.Equal(new ReverseName("localhost", true), await resolver.ReverseAsync(IPAddress.Loopback, default));
            Assert.Equal(new ReverseName("hosted.test", true), await resolver.ReverseAsync(IPAddress.Parse("::ffff:127.0.0.8"), default));
            Assert.Equal([IPAddress.Parse("127.0.0.8")], await resolver.ResolveHostAsync("hosted.test", default));
            var unknown = await resolver.ReverseAsync(IPAddress.Parse("127.0.0.5"), default);
            Assert.Null(unknown.Name);
            Assert.Contains("Refused", unknown.Error);
            Assert.IsType<MxLookup.Temporary>(await resolver.LookupMxAsync("example.net", default));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [SkippableFact]
    public async Task Built_in_rdns_and_fcrdns_filters_see_the_names_etc_hosts_and_the_dns_give()
    {
        // Clients on 127.0.0.x inside a network namespace -> smtpd on 127.0.0.1 (listener with
        // "match !rdns disconnect" and "match !fcrdns disconnect") -> maildir. The namespace's
        // /etc/hosts names 127.0.0.1 localhost and 127.0.0.8 hosted.test; its resolv.conf names
        // dnsmasq on 127.0.0.1:53, which knows 127.0.0.7 <-> named.test, 127.0.0.6 -> liar.test
        // (which is 127.0.0.9) and nothing else (NXDOMAIN).
        Skip.If(NetworkNamespace.Unavailable is not null, NetworkNamespace.Unavailable);
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        await using var ns = await NetworkNamespace.CreateAsync("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            "127.0.0.1 localhost\n::1 localhost\n127.0.0.8 hosted.test\n");
        await using var dns = new Dnsmasq(["test", "0.0.127.in-addr.arpa"], [
            "ptr-record=7.0.0.127.in-addr.arpa,named.test", "host-record=named.test,127.0.0.7",
            "ptr-record=6.0.0.127.in-addr.arpa,liar.test", "host-record=liar.test,127.0.0.9"], ns);
        await using var smtpd = new SmtpdInstance("""
            filter "nordns" phase connect match !rdns disconnect "550 5.7.1 No reverse DNS"
            filter "nofcrdns" phase connect match !fcrdns disconnect "550 5.7.25 No forward-confirmed reverse DNS"
            filter "names" chain { "nordns", "nofcrdns" }
            listen on 127.0.0.1 port {port} filter "names"
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "local"
            """);
        smtpd.Wrapper.AddRange(ns.Enter);
        smtpd.Environment.Remove("SMTPD_RESOLVER");
        await smtpd.StartAsync();

        async Task<SmtpDialogue> FromAsync(string address) =>
            SmtpDialogue.Over(await ns.ConnectAsync(new IPEndPoint(IPAddress.Loopback, smtpd.Port), IPAddress.Parse(address)));

        // No name anywhere: no rdns. A name whose address is another: rdns but no fcrdns.
        await using (var c = await FromAsync("127.0.0.5"))
            Assert.Equal("550 5.7.1 No reverse DNS", await c.ReadReplyAsync());
        await using (var c = await FromAsync("127.0.0.6"))
            Assert.Equal("550 5.7.25 No forward-confirmed reverse DNS", await c.ReadReplyAsync());
        // Named by /etc/hosts (both ways), or by the DNS (both ways): welcome, and so named.
        foreach (var (address, name) in new[] { ("127.0.0.1", "localhost"), ("127.0.0.8", "hosted.test"), ("127.0.0.7", "named.test") })
        {
            await using var c = await FromAsync(address);
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync($"EHLO client-{address}"));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@localhost>"));
            Assert.StartsWith("354", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync($"Subject: from {address}\r\n\r\nhello\r\n."));
            await c.CommandAsync("QUIT");
            Assert.Contains($"smtp connected address={address} host={name}", smtpd.Log);
        }
        Assert.Contains("smtp connected address=127.0.0.5 host=<unknown>", smtpd.Log);
        Assert.Contains("smtp connected address=127.0.0.6 host=liar.test", smtpd.Log);

        var mails = (await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, TestUsers.Recipient), 3, Wait)).Select(File.ReadAllText).ToList();
        Assert.Contains("Received: from client-127.0.0.1 (localhost [127.0.0.1])", mails.Single(m => m.Contains("Subject: from 127.0.0.1")));
        Assert.Contains("Received: from client-127.0.0.8 (hosted.test [127.0.0.8])", mails.Single(m => m.Contains("Subject: from 127.0.0.8")));
        Assert.Contains("Received: from client-127.0.0.7 (named.test [127.0.0.7])", mails.Single(m => m.Contains("Subject: from 127.0.0.7")));
    }

    [SkippableFact]
    public async Task Rules_from_rdns_match_the_same_names()
    {
        // Clients on 127.0.0.x in a network namespace -> smtpd: "from rdns <friends>" takes
        // hosted.test (named by /etc/hosts), "!from rdns" takes a client without a name
        // (dnsmasq: NXDOMAIN), and localhost (a name, not a friend) matches no rule.
        Skip.If(NetworkNamespace.Unavailable is not null, NetworkNamespace.Unavailable);
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        await using var ns = await NetworkNamespace.CreateAsync("nameserver 127.0.0.1\n", "127.0.0.1 localhost\n127.0.0.8 hosted.test\n");
        await using var dns = new Dnsmasq(["test", "0.0.127.in-addr.arpa"], [], ns);
        await using var smtpd = new SmtpdInstance("""
            table friends { "hosted.test" }
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from rdns <friends> for local action "local"
            match !from rdns for local action "local"
            """);
        smtpd.Wrapper.AddRange(ns.Enter);
        smtpd.Environment.Remove("SMTPD_RESOLVER");
        await smtpd.StartAsync();

        async Task<string> RcptReplyFromAsync(string address)
        {
            await using var c = SmtpDialogue.Over(await ns.ConnectAsync(new IPEndPoint(IPAddress.Loopback, smtpd.Port), IPAddress.Parse(address)));
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
            return await c.CommandAsync($"RCPT TO:<{TestUsers.Recipient}@localhost>");
        }

        Assert.StartsWith("250", await RcptReplyFromAsync("127.0.0.8"));
        Assert.StartsWith("250", await RcptReplyFromAsync("127.0.0.5"));
        Assert.StartsWith("550", await RcptReplyFromAsync("127.0.0.1"));
    }
}
