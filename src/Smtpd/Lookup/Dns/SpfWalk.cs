using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Smtpd.Lookup.Dns;

/// <summary>
/// <c>smtpctl spf walk</c> (OpenSMTPD's spfwalk.c): from the SPF records (RFC 7208) of some
/// domains, the addresses and networks allowed to send for them, one a line, for a table of
/// known senders. ip4:/ip6: are printed as written; a, a:, mx, mx: and exists: are looked up
/// (A and AAAA, with their CIDR lengths); include: and redirect= are walked in turn. Deny and
/// soft-fail terms, macros (they need the connection; a warning names them) and DNS failures are
/// skipped: the walk is best effort, as OpenSMTPD's. Lookups go out a round at a time, each
/// round's at once, and a term seen once is not walked again (that is what ends include loops).
/// </summary>
public sealed class SpfWalk(DnsResolver resolver, Action<string> print, Action<string> warn)
{
    // OpenSMTPD reads a TXT record into 4 KiB and ignores a longer one.
    const int MaxRecord = 4095;

    enum Kind { Txt, Mx, A, Aaaa }
    readonly record struct Target(Kind Kind, int Cidr4 = -1, int Cidr6 = -1);
    readonly record struct Lookup(string Name, Target Target);

    readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    List<Lookup> _next = [];

    /// <summary>Walks the SPF records of <paramref name="domains"/> (lines of input: blank ones are skipped) and prints what they allow.</summary>
    public async Task RunAsync(IEnumerable<string> domains, CancellationToken ct)
    {
        foreach (string line in domains)
        {
            string domain = line.TrimEnd();
            if (domain.Length > 0) Queue(domain, new Target(Kind.Txt));
        }
        while (_next.Count > 0)
        {
            var round = _next;
            _next = [];
            var answers = round.Select(l => AnswersAsync(l, ct)).ToList();
            for (int i = 0; i < round.Count; i++)
                foreach (var answer in await answers[i]) Dispatch(answer, round[i].Target);
        }
    }

    void Queue(string name, Target target)
    {
        if (name.Contains('%'))
        {
            string shown = new(name.Select(c => char.IsControl(c) ? '?' : c).ToArray());
            warn($"lookup_record: {shown} contains macros and can't be resolved");
            return;
        }
        if (name.Length > 0) _next.Add(new Lookup(name, target));
    }

    async Task<IReadOnlyList<DnsAnswer>> AnswersAsync(Lookup lookup, CancellationToken ct)
    {
        var type = lookup.Target.Kind switch { Kind.Txt => DnsRecordType.Txt, Kind.Mx => DnsRecordType.Mx, Kind.A => DnsRecordType.A, _ => DnsRecordType.Aaaa };
        try { return await resolver.QueryAsync(lookup.Name, type, ct); }
        catch (DnsTempFailException) { return []; } // best effort, as OpenSMTPD's
    }

    void Dispatch(DnsAnswer answer, Target target)
    {
        switch (target.Kind, answer)
        {
            case (Kind.Txt, DnsAnswer.Txt txt): Terms(txt); break;
            case (Kind.Mx, DnsAnswer.Mx mx):
                string exchange = mx.Exchange.TrimEnd('.');
                Queue(exchange, target with { Kind = Kind.A });
                Queue(exchange, target with { Kind = Kind.Aaaa });
                break;
            case (Kind.A, DnsAnswer.Address { Value.AddressFamily: AddressFamily.InterNetwork } a):
                print(target.Cidr4 >= 0 ? $"{a.Value}/{target.Cidr4}" : a.Value.ToString());
                break;
            case (Kind.Aaaa, DnsAnswer.Address { Value.AddressFamily: AddressFamily.InterNetworkV6 } a):
                print(target.Cidr6 >= 0 ? $"{a.Value}/{target.Cidr6}" : a.Value.ToString());
                break;
        }
    }

    /// <summary>The terms of one TXT record, if it is an SPF record ("v=spf1 ...").</summary>
    void Terms(DnsAnswer.Txt record)
    {
        if (record.Text.Length >= MaxRecord || !record.Text.StartsWith("v=spf1 ", StringComparison.OrdinalIgnoreCase)) return;
        foreach (string raw in record.Text.Split(' '))
        {
            if (raw.Length == 0 || raw.Equals("v=spf1", StringComparison.OrdinalIgnoreCase)) continue;
            string term = raw.EndsWith('.') ? raw[..^1] : raw;
            if (term.Length == 0) continue;
            string bare = term.TrimStart('+', '?');
            // "a" and "mx" name the record's own domain: seen per domain (OpenSMTPD 6.8 sees the
            // word alone, so the second domain's "mx" is never looked up: DEVIATIONS.md).
            bool ownDomain = IsTerm(bare, "a") || IsTerm(bare, "mx");
            if (!_seen.Add(ownDomain ? $"{record.Owner} {term}" : term)) continue;
            if (term[0] is '-' or '~') continue;
            if (term[0] is '+' or '?') term = term[1..];

            if (Prefixed(term, "ip4:", out string net4)) { if (IsNetwork(net4, AddressFamily.InterNetwork)) print(net4); }
            // OpenSMTPD 6.8 on glibc prints no ip6: term (its inet_net_pton knows only IPv4): DEVIATIONS.md.
            else if (Prefixed(term, "ip6:", out string net6)) { if (IsNetwork(net6, AddressFamily.InterNetworkV6)) print(net6); }
            else if (IsTerm(term, "a")) Addresses(record.Owner, term[1..]);
            else if (Prefixed(term, "a:", out string a)) Addresses(a, "");
            else if (Prefixed(term, "exists:", out string exists)) Queue(exists, new Target(Kind.A));
            else if (Prefixed(term, "include:", out string include)) Queue(include, new Target(Kind.Txt));
            else if (Prefixed(term, "redirect=", out string redirect)) Queue(redirect, new Target(Kind.Txt));
            else if (IsTerm(term, "mx")) Exchangers(record.Owner, term[2..]);
            else if (Prefixed(term, "mx:", out string mx)) Exchangers(mx, "");
        }
    }

    /// <summary>The A and AAAA records of a domain ("a:host/24//64": the CIDR lengths apply).</summary>
    void Addresses(string spec, string cidr)
    {
        if (!TryTarget(spec + cidr, Kind.A, out string domain, out var target)) return;
        Queue(domain, target);
        Queue(domain, target with { Kind = Kind.Aaaa });
    }

    void Exchangers(string spec, string cidr)
    {
        if (TryTarget(spec + cidr, Kind.Mx, out string domain, out var target)) Queue(domain, target);
    }

    /// <summary>"a", "a/24", "a//64", "a/24//64" (RFC 7208 5.6 dual-cidr-length); OpenSMTPD's own "/24/64" is read too.</summary>
    static bool IsTerm(string term, string name) =>
        term.Equals(name, StringComparison.OrdinalIgnoreCase)
        || (term.Length > name.Length && term[name.Length] == '/' && term.StartsWith(name, StringComparison.OrdinalIgnoreCase));

    static bool Prefixed(string term, string prefix, out string rest)
    {
        bool yes = term.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);
        rest = yes ? term[prefix.Length..] : "";
        return yes;
    }

    /// <summary>Splits "domain/N//M" (or "domain/N/M") into the domain and its CIDR lengths; false when a length is not a number in range.</summary>
    static bool TryTarget(string spec, Kind kind, out string domain, out Target target)
    {
        target = new Target(kind);
        int slash = spec.IndexOf('/');
        domain = slash < 0 ? spec : spec[..slash];
        if (slash < 0) return true;
        string rest = spec[(slash + 1)..];
        int second = rest.IndexOf('/');
        string m4 = second < 0 ? rest : rest[..second];
        string? m6 = second < 0 ? null : rest[(second + 1)..];
        if (m6 is not null && m6.StartsWith('/') && m4.Length > 0) m6 = m6[1..]; // "/24//64"
        int cidr4 = -1, cidr6 = -1;
        if (m4.Length > 0 && !TryLength(m4, 32, out cidr4)) return false;
        if (m6 is not null && !TryLength(m6, 128, out cidr6)) return false;
        target = target with { Cidr4 = cidr4, Cidr6 = cidr6 };
        return true;
    }

    static bool TryLength(string text, int max, out int length) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out length) && length <= max;

    /// <summary>An address with an optional prefix length, as inet_net_pton reads it: IPv4 in 1 to 4 dotted parts or 0x hex, IPv6 in any RFC 4291 form.</summary>
    static bool IsNetwork(string text, AddressFamily family)
    {
        int slash = text.IndexOf('/');
        string address = slash < 0 ? text : text[..slash];
        if (slash >= 0 && !TryLength(text[(slash + 1)..], family == AddressFamily.InterNetwork ? 32 : 128, out _)) return false;
        if (family == AddressFamily.InterNetworkV6)
            return address.Contains(':') && !address.Contains('%') && IPAddress.TryParse(address, out var v6) && v6.AddressFamily == family;
        if (address.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return address.Length is > 2 and <= 10 && uint.TryParse(address[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out _);
        string[] parts = address.Split('.');
        return parts.Length is >= 1 and <= 4 && parts.All(p => p.Length is > 0 and <= 3 && int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int b) && b <= 255);
    }
}
