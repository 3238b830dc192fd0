using Smtpd.Lookup.Dns;

namespace Smtpd.Ctl;

/// <summary>
/// <c>smtpctl spf walk</c>: reads domains from standard input, one a line, and prints the
/// addresses and networks their SPF records allow (<see cref="SpfWalk"/>). Needs no daemon; DNS
/// goes through the same resolver as smtpd's (/etc/resolv.conf, or SMTPD_RESOLVER).
/// </summary>
public static class SpfWalkCommand
{
    public static async Task<int> RunAsync()
    {
        DnsResolver resolver;
        try { resolver = DnsResolver.FromSetting(Environment.GetEnvironmentVariable("SMTPD_RESOLVER")); }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"smtpctl: {ex.Message}");
            return 1;
        }
        // Every domain is read before the first lookup, as OpenSMTPD's.
        var domains = new List<string>();
        while (Console.In.ReadLine() is { } line) domains.Add(line);
        var stdout = Console.Out;
        await new SpfWalk(resolver, stdout.WriteLine, w => Console.Error.WriteLine($"smtpctl: {w}")).RunAsync(domains, CancellationToken.None);
        await stdout.FlushAsync();
        return 0;
    }
}
