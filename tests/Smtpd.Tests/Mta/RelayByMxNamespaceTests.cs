using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mta;

// Relaying by MX as on a real mail server whose /etc/resolv.conf names a local resolver
// (127.0.0.1) and whose only interface is lo: each test makes a network namespace with its own
// resolv.conf, runs the DNS server, the MX host and smtpd inside it, and gives smtpd no
// SMTPD_RESOLVER: it must find its DNS server the way an administrator's machine tells it to.
public sealed class RelayByMxNamespaceTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    const string Relayer = """
        listen on 127.0.0.1 port {port}
        action "out" relay
        match from local for any action "out"
        """;

    /// <summary>smtpd started inside <paramref name="ns"/>, resolving only through the namespace's /etc/resolv.conf.</summary>
    static async Task<SmtpdInstance> RelayerInsideAsync(NetworkNamespace ns)
    {
        var smtpd = new SmtpdInstance(Relayer);
        smtpd.Wrapper.AddRange(ns.Enter);
        smtpd.Environment.Remove("SMTPD_RESOLVER");
        smtpd.Environment["SMTPD_MTA_TIMEOUT"] = "5";
        await smtpd.StartAsync();
        return smtpd;
    }

    static async Task SendInsideAsync(NetworkNamespace ns, SmtpdInstance smtpd, string to, string subject)
    {
        await using var d = SmtpDialogue.Over(await ns.ConnectAsync(new IPEndPoint(IPAddress.Loopback, smtpd.Port)));
        Assert.StartsWith("220", await d.ReadReplyAsync());
        Assert.StartsWith("250", await d.CommandAsync("EHLO client.example"));
        Assert.StartsWith("250", await d.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{to}>"));
        Assert.StartsWith("354", await d.CommandAsync("DATA"));
        Assert.StartsWith("250", await d.CommandAsync($"Subject: {subject}\r\n\r\nbody of {subject}\r\n."));
        await d.CommandAsync("QUIT");
    }

    [SkippableFact]
    public async Task Mail_is_relayed_by_mx_through_the_dns_server_resolv_conf_names_on_127_0_0_1()
    {
        // alice -> smtpd (127.0.0.1, in the namespace) --MX example.net? asks 127.0.0.1:53 (dnsmasq,
        // named only by /etc/resolv.conf)--> mx.example.net = 127.0.0.2:25 (Postfix's smtp-sink).
        Skip.If(NetworkNamespace.Unavailable is not null, NetworkNamespace.Unavailable);
        Skip.IfNot(Dnsmasq.Available, "dnsmasq is not installed");
        Skip.IfNot(SmtpSink.Available, "Postfix's smtp-sink is not installed");
        await using var ns = await NetworkNamespace.CreateAsync(SignedDns.ResolvConf);
        await using var dns = new Dnsmasq(["example.net"], ["mx-host=example.net,mx.example.net,10", "host-record=mx.example.net,127.0.0.2"], ns);
        await using var sink = new SmtpSink("127.0.0.2", 25, ns);
        await using var smtpd = await RelayerInsideAsync(ns);

        await SendInsideAsync(ns, smtpd, "bob@example.net", "by mx");

        await smtpd.WaitForLogAsync("result=\"Ok\"", Timeout);
        Assert.Contains("resolver: nameservers from /etc/resolv.conf: 127.0.0.1:53, timeout 2 s, attempts 2", smtpd.Log);
        Assert.Matches("mta delivery evpid=[0-9a-f]{16} from=<alice@example.org> to=<bob@example.net> .*relay=\"mx.example.net \\[127.0.0.2\\]\".* result=\"Ok\"", smtpd.Log);
        var deadline = DateTime.UtcNow + Timeout;
        while (sink.Messages.Length == 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Contains("body of by mx", await File.ReadAllTextAsync(Assert.Single(sink.Messages)));
    }

    [SkippableFact]
    public async Task A_dns_server_that_never_answers_is_a_temporary_failure_within_timeout_times_attempts()
    {
        // alice -> smtpd --MX example.net? asks 127.0.0.1:53, where a socket takes every query and
        // answers none--> after resolv.conf's timeout (1 s) x attempts (2): TempFail, logged, and
        // the envelope is back in the queue with the error, not stuck in flight.
        Skip.If(NetworkNamespace.Unavailable is not null, NetworkNamespace.Unavailable);
        await using var ns = await NetworkNamespace.CreateAsync("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n");
        using var silent = await ns.InsideAsync(() => new UdpClient(new IPEndPoint(IPAddress.Loopback, 53)));
        await using var smtpd = await RelayerInsideAsync(ns);

        await SendInsideAsync(ns, smtpd, "bob@example.net", "no dns");
        var sent = Stopwatch.StartNew();

        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        var failedAfter = sent.Elapsed;
        Assert.Matches("mta delivery evpid=[0-9a-f]{16} from=<alice@example.org> to=<bob@example.net> .*result=\"TempFail\" stat=\"DNS error for example.net MX: no answer \\(asked 127.0.0.1:53, timeout 1 s, attempts 2\\)", smtpd.Log);
        // Asked and waited (not refused at once), and no longer than the resolver may wait plus the scheduling.
        Assert.InRange(failedAfter, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2 + 3));
        Assert.True(silent.Available > 0, "the DNS server got no query");

        var line = Assert.Single(await Smtpctl.QueueAsync(smtpd));
        Assert.Equal("bob@example.net", line[5]);
        Assert.Equal("pending", line[11]);
        Assert.Equal("1", line[10]); // one try so far
        Assert.Contains("DNS error for example.net MX: no answer", line[13]);
    }

    [SkippableFact]
    public async Task A_resolv_conf_without_nameserver_is_said_in_the_log_and_mail_waits()
    {
        // alice -> smtpd, whose resolv.conf names no server: it says so, asks 127.0.0.1 as the C
        // library would (nothing there), and the mail is a temporary failure in the queue.
        Skip.If(NetworkNamespace.Unavailable is not null, NetworkNamespace.Unavailable);
        await using var ns = await NetworkNamespace.CreateAsync("# no nameserver here\noptions timeout:1 attempts:1\n");
        await using var smtpd = await RelayerInsideAsync(ns);

        await SendInsideAsync(ns, smtpd, "bob@example.net", "no nameserver");

        await smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout);
        Assert.Contains("warn: resolver: /etc/resolv.conf names no nameserver: asking 127.0.0.1, as the C library does", smtpd.Log);
        Assert.Contains("stat=\"DNS error for example.net MX: no answer (asked 127.0.0.1:53, timeout 1 s, attempts 1)", smtpd.Log);
        Assert.Equal("pending", Assert.Single(await Smtpctl.PendingQueueAsync(smtpd))[11]);
    }
}
