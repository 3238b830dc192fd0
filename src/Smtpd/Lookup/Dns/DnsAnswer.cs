using System.Net;

namespace Smtpd.Lookup.Dns;

/// <summary>The record types a raw query may ask for (<see cref="DnsResolver.QueryAsync(string, DnsRecordType, CancellationToken)"/>).</summary>
public enum DnsRecordType { A, Aaaa, Mx, Txt, Tlsa }

/// <summary>One record of a DNS answer section, by its owner name (without the final dot).</summary>
public abstract record DnsAnswer(string Owner)
{
    /// <summary>A TXT record: its character-strings joined with nothing between them (RFC 7208 3.3).</summary>
    public sealed record Txt(string Owner, string Text) : DnsAnswer(Owner);
    public sealed record Mx(string Owner, string Exchange, int Preference) : DnsAnswer(Owner);
    /// <summary>An A or AAAA record.</summary>
    public sealed record Address(string Owner, IPAddress Value) : DnsAnswer(Owner);
    /// <summary>A TLSA record (RFC 6698): certificate usage, selector, matching type and the data to match.</summary>
    public sealed record Tlsa(string Owner, byte Usage, byte Selector, byte MatchingType, byte[] Data) : DnsAnswer(Owner);
}
