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
    public async ValueTask<bool> MatchesAsync(FilterSession s, string param, CancellationToken ct = default)
    {
        foreach (var c in spec.Conditions)
            if (await HoldsAsync(c, s, param, ct) != c.Negated) return true;
        return false;
    }

    async ValueTask<bool> HoldsAsync(FilterCondition c, FilterSession s, string param, CancellationToken ct) => c.Kind switch
    {
        FilterConditionKind.Fcrdns => s.Fcrdns,
        FilterConditionKind.Rdns => c.Table is null && c.Pattern is null ? HasRdns(s.Rdns) : s.Rdns is { } rdns && await LookupAsync(c, TableService.Domain, rdns, ct),
        FilterConditionKind.Src => s.Source is { } src && await LookupAsync(c, TableService.NetAddr, src, ct),
        FilterConditionKind.Helo => s.Helo is { } helo && await LookupAsync(c, TableService.Domain, helo, ct),
        FilterConditionKind.Auth => s.User is { } user && (c.Table is null && c.Pattern is null || await LookupAsync(c, TableService.Credentials, user, ct)),
        FilterConditionKind.MailFrom => s.MailFrom is { } from && await LookupAsync(c, TableService.MailAddr, from, ct),
        FilterConditionKind.RcptTo => Phase == FilterPhase.RcptTo && await LookupAsync(c, TableService.MailAddr, param, ct),
        _ => false,
    };

    /// <summary>filter_check_rdns: no name, or a "name" that is an address, is no reverse DNS.</summary>
    static bool HasRdns(string? rdns) => !string.IsNullOrEmpty(rdns) && rdns != "<unknown>" && !IPAddress.TryParse(rdns.Trim('[', ']'), out _);

    async ValueTask<bool> LookupAsync(FilterCondition c, TableService service, string key, CancellationToken ct)
    {
        if (c.Pattern is not null) return RegexMatches(c.Pattern, key);
        var table = tables[c.Table!];
        if (c.Regex) return (await table.FetchAsync(service, ct)).Any(pattern => RegexMatches(pattern, key));
        if (await table.CheckAsync(service, key, ct)) return true;
        if (service != TableService.MailAddr) return false;
        // A mail address also matches its domain ("@example.org" or "example.org") or its user ("user@").
        int at = key.LastIndexOf('@');
        if (at < 0) return false;
        string domain = key[(at + 1)..];
        return await table.CheckAsync(service, "@" + domain, ct) || await table.CheckAsync(service, domain, ct)
            || await table.CheckAsync(service, key[..(at + 1)], ct);
    }

    static bool RegexMatches(string pattern, string input)
    {
        try { return Regex.IsMatch(input, pattern, RegexOptions.CultureInvariant, RegexTimeout); }
        catch (RegexMatchTimeoutException) { return false; }
    }
}
