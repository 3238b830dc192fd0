using System.Globalization;
using System.Net;

namespace Smtpd.Lookup.Dns;

/// <summary>
/// What /etc/resolv.conf tells a stub resolver (resolv.conf(5)): the name servers, in order, and
/// <c>options timeout:N attempts:N ndots:N rotate</c>. Read by us rather than by DnsClient, whose
/// discovery asks the network interfaces and skips loopback ones: on a host whose only interface
/// is <c>lo</c> it found no server at all, although the file names 127.0.0.1.
/// </summary>
public sealed record ResolvConf
{
    public const string SystemPath = "/etc/resolv.conf";
    /// <summary>resolv.conf(5): at most three name servers are used (MAXNS).</summary>
    public const int MaxServers = 3;

    public required IReadOnlyList<IPEndPoint> Servers { get; init; }
    /// <summary>No <c>nameserver</c> line (or no file): the C library and OpenSMTPD's resolver ask 127.0.0.1.</summary>
    public bool DefaultServer { get; init; }
    /// <summary>How long to wait for one server's answer (<c>timeout:</c>, 5 s by default, at most 30).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>How many times each server is asked (<c>attempts:</c>, 2 by default, at most 5).</summary>
    public int Attempts { get; init; } = 2;
    /// <summary><c>ndots:</c> (1 by default). Mail domains and MX hosts are looked up as given, as OpenSMTPD does.</summary>
    public int Ndots { get; init; } = 1;
    /// <summary><c>rotate</c>: spread queries over the servers instead of always asking the first.</summary>
    public bool Rotate { get; init; }

    /// <summary>The file at <paramref name="path"/>; a missing or unreadable one means the defaults.</summary>
    public static ResolvConf Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { text = ""; }
        return Parse(text);
    }

    public static ResolvConf Parse(string text)
    {
        var servers = new List<IPEndPoint>();
        TimeSpan timeout = TimeSpan.FromSeconds(5);
        int attempts = 2, ndots = 1;
        bool rotate = false;
        foreach (string raw in text.Split('\n'))
        {
            string[] words = raw.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2 || words[0].StartsWith('#') || words[0].StartsWith(';')) continue;
            switch (words[0])
            {
                case "nameserver":
                    if (servers.Count < MaxServers && IPAddress.TryParse(words[1], out var address))
                        servers.Add(new IPEndPoint(address, 53));
                    break;
                case "options":
                    foreach (string option in words.Skip(1))
                    {
                        if (Number(option, "timeout:", 1, 30) is { } t) timeout = TimeSpan.FromSeconds(t);
                        else if (Number(option, "attempts:", 1, 5) is { } a) attempts = a;
                        else if (Number(option, "ndots:", 0, 15) is { } n) ndots = n;
                        else if (option == "rotate") rotate = true;
                    }
                    break;
            }
        }
        bool none = servers.Count == 0;
        if (none) servers.Add(new IPEndPoint(IPAddress.Loopback, 53));
        return new ResolvConf { Servers = servers, DefaultServer = none, Timeout = timeout, Attempts = attempts, Ndots = ndots, Rotate = rotate };
    }

    /// <summary>"timeout:N": N clamped as glibc clamps it; null when the option is another one or not a number.</summary>
    static int? Number(string option, string prefix, int min, int max) =>
        option.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(option.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? Math.Clamp(n, min, max) : null;

    /// <summary>For the log: "127.0.0.1:53, timeout 5 s, attempts 2".</summary>
    public override string ToString() =>
        $"{string.Join(' ', Servers)}{(DefaultServer ? " (no nameserver line: the local one)" : "")}, timeout {Timeout.TotalSeconds:0} s, attempts {Attempts}{(Rotate ? ", rotate" : "")}";
}
