using System.Net;

namespace Smtpd.Lookup.Dns;

/// <summary>
/// /etc/hosts (hosts(5)), consulted before the DNS as the system's "hosts: files dns" and
/// OpenSMTPD's resolver ("lookup file bind") do: an address's name is the first name of the first
/// line that lists it; a name's addresses are those of every line that lists it (name or alias).
/// </summary>
public sealed class HostsFile
{
    public const string SystemPath = "/etc/hosts";
    readonly Dictionary<IPAddress, string> _names = [];
    readonly Dictionary<string, List<IPAddress>> _addresses = new(StringComparer.OrdinalIgnoreCase);

    public static readonly HostsFile Empty = new();

    /// <summary>The file at <paramref name="path"/>; a missing or unreadable one is empty.</summary>
    public static HostsFile Read(string path)
    {
        try { return Parse(File.ReadAllText(path)); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return Empty; }
    }

    public static HostsFile Parse(string text)
    {
        var hosts = new HostsFile();
        foreach (string raw in text.Split('\n'))
        {
            int hash = raw.IndexOf('#');
            string[] words = (hash < 0 ? raw : raw[..hash]).Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2 || !IPAddress.TryParse(words[0], out var address)) continue;
            address = Normal(address);
            hosts._names.TryAdd(address, words[1].TrimEnd('.'));
            foreach (string name in words.Skip(1))
            {
                var list = hosts._addresses.TryGetValue(name.TrimEnd('.'), out var l) ? l : hosts._addresses[name.TrimEnd('.')] = [];
                if (!list.Contains(address)) list.Add(address);
            }
        }
        return hosts;
    }

    /// <summary>The name /etc/hosts gives <paramref name="address"/>, or null.</summary>
    public string? NameOf(IPAddress address) => _names.GetValueOrDefault(Normal(address));

    /// <summary>The addresses /etc/hosts gives <paramref name="name"/>, or null when it does not list it.</summary>
    public IReadOnlyList<IPAddress>? AddressesOf(string name) => _addresses.GetValueOrDefault(name.TrimEnd('.'));

    /// <summary>An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d: it is a.b.c.d.</summary>
    public static IPAddress Normal(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
}
