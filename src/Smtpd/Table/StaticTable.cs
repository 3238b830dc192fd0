using System.Net;

namespace Smtpd.Table;

/// <summary>
/// A table held in memory: inline <c>{ ... }</c> lists and maps from the configuration, and
/// <c>file:</c> tables once read. Keys are folded to lower case, as OpenSMTPD does.
/// </summary>
public sealed class StaticTable : ITableBackend
{
    readonly HashSet<string> _list;
    readonly Dictionary<string, string> _map;
    readonly List<(IPAddress Net, int Prefix)> _networks = [];

    public StaticTable(string name, IEnumerable<string> list, IEnumerable<KeyValuePair<string, string>> map)
    {
        Name = name;
        _list = new HashSet<string>(list.Select(k => k.ToLowerInvariant()), StringComparer.Ordinal);
        _map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in map) _map[key.ToLowerInvariant()] = value; // the last of a repeated key wins, as dict_set
        foreach (var key in _list.Concat(_map.Keys))
            if (TryParseNetwork(key, out var net, out int prefix)) _networks.Add((net, prefix));
    }

    /// <summary>A table read whole (a file), entries in file order; a repeated key keeps its last value.</summary>
    public static StaticTable From(string name, TableContents contents) =>
        new(name, contents.Entries.Where(e => e.Value is null).Select(e => e.Key),
            contents.Entries.Where(e => e.Value is not null).Select(e => KeyValuePair.Create(e.Key, e.Value!)));

    /// <summary>The entries of an inline table, for checking against its uses.</summary>
    public static TableContents ContentsOf(Config.TableConfig config) =>
        new([.. config.List.Select(k => new TableEntry(k, null, 0)), .. config.Map.Select(kv => new TableEntry(kv.Key, kv.Value, 0))],
            IsList: !config.IsMap);

    public string Name { get; }

    /// <summary>Every key (list entries and map keys), for tables of regular expressions.</summary>
    public IEnumerable<string> Keys => _list.Concat(_map.Keys);

    public IReadOnlyList<string> Fetch(TableService service) => [.. Keys];

    public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) => new(Check(service, key));
    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(service, key));
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) => new(Fetch(service));

    public bool Check(TableService service, string key)
    {
        key = key.ToLowerInvariant();
        if (service is TableService.NetAddr or TableService.Source && IPAddress.TryParse(key, out var addr))
            return _networks.Any(n => InNetwork(addr, n.Net, n.Prefix));
        if (service == TableService.Domain && MatchesDomain(key)) return true;
        return _list.Contains(key) || _map.ContainsKey(key);
    }

    public string? Lookup(TableService service, string key) =>
        _map.TryGetValue(key.ToLowerInvariant(), out var v) ? v : null;

    /// <summary>A domain entry "*.example.org" matches every subdomain, as in OpenSMTPD.</summary>
    bool MatchesDomain(string domain)
    {
        for (int dot = domain.IndexOf('.'); dot >= 0; dot = domain.IndexOf('.', dot + 1))
            if (_list.Contains("*" + domain[dot..]) || _map.ContainsKey("*" + domain[dot..])) return true;
        return false;
    }

    static bool TryParseNetwork(string s, out IPAddress net, out int prefix) => NetworkText.TryParseNetwork(s, out net, out prefix);

    internal static bool InNetwork(IPAddress addr, IPAddress net, int prefix)
    {
        if (addr.IsIPv4MappedToIPv6) addr = addr.MapToIPv4();
        if (net.IsIPv4MappedToIPv6) net = net.MapToIPv4();
        if (addr.AddressFamily != net.AddressFamily) return false;
        byte[] a = addr.GetAddressBytes(), n = net.GetAddressBytes();
        for (int i = 0; i < a.Length && prefix > 0; i++, prefix -= 8)
        {
            int mask = prefix >= 8 ? 0xff : (0xff << (8 - prefix)) & 0xff;
            if ((a[i] & mask) != (n[i] & mask)) return false;
        }
        return true;
    }
}
