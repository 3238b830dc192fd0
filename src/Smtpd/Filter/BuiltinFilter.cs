using System.Net;
using System.Text.RegularExpressions;
using Smtpd.Config;
using Smtpd.Table;

namespace Smtpd.Filter;

/// <summary>
/// <c>filter NAME phase PHASE match CONDITIONS DECISION</c> (lka_filter.c's builtins): the
/// decision applies when any of the conditions holds, as in OpenSMTPD. Data a phase does not
/// have yet (the sender at helo) makes a condition false, before negation.
/// </summary>
public sealed class BuiltinFilter(string name, FilterSpec.Builtin spec, TableSet tables)
{
    static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(100);

    public string Name => name;
    public FilterSpec.Builtin Spec => spec;
    public FilterPhase Phase { get; } = FilterPhases.TryParse(spec.Phase, out var p) ? p : FilterPhase.Connect;

    /// <exception cref="TableTempFailException">A table could not be read.</exception>
    public bool Matches(FilterSession s, string param) => spec.Conditions.Any(c => Holds(c, s, param) != c.Negated);

    bool Holds(FilterCondition c, FilterSession s, string param) => c.Kind switch
    {
        FilterConditionKind.Fcrdns => s.Fcrdns,
        FilterConditionKind.Rdns => c.Table is null && c.Pattern is null ? HasRdns(s.Rdns) : s.Rdns is { } rdns && Lookup(c, TableService.Domain, rdns),
        FilterConditionKind.Src => s.Source is { } src && Lookup(c, TableService.NetAddr, src),
        FilterConditionKind.Helo => s.Helo is { } helo && Lookup(c, TableService.Domain, helo),
        FilterConditionKind.Auth => s.User is { } user && (c.Table is null && c.Pattern is null || Lookup(c, TableService.Credentials, user)),
        FilterConditionKind.MailFrom => s.MailFrom is { } from && Lookup(c, TableService.MailAddr, from),
        FilterConditionKind.RcptTo => Phase == FilterPhase.RcptTo && Lookup(c, TableService.MailAddr, param),
        _ => false,
    };

    /// <summary>filter_check_rdns: no name, or a "name" that is an address, is no reverse DNS.</summary>
    static bool HasRdns(string? rdns) => !string.IsNullOrEmpty(rdns) && rdns != "<unknown>" && !IPAddress.TryParse(rdns.Trim('[', ']'), out _);

    bool Lookup(FilterCondition c, TableService service, string key)
    {
        if (c.Pattern is not null) return RegexMatches(c.Pattern, key);
        var table = tables[c.Table!];
        if (c.Regex) return table.Fetch(service).Any(pattern => RegexMatches(pattern, key));
        if (table.Check(service, key)) return true;
        if (service != TableService.MailAddr) return false;
        // A mail address also matches its domain ("@example.org" or "example.org") or its user ("user@").
        int at = key.LastIndexOf('@');
        if (at < 0) return false;
        string domain = key[(at + 1)..];
        return table.Check(service, "@" + domain) || table.Check(service, domain) || table.Check(service, key[..(at + 1)]);
    }

    static bool RegexMatches(string pattern, string input)
    {
        try { return Regex.IsMatch(input, pattern, RegexOptions.CultureInvariant, RegexTimeout); }
        catch (RegexMatchTimeoutException) { return false; }
    }
}
