namespace Smtpd.Config;

/// <summary>One extra condition of a rule (<c>[!] mail-from &lt;t&gt;</c>, <c>[!] tls</c>, ...).</summary>
/// <param name="Table">The table the value must be in; literals are compiled into anonymous tables,
/// as OpenSMTPD does. Null for Tls, and for Auth without a table.</param>
/// <param name="Regex">The table holds regular expressions.</param>
public sealed record MatchCondition(MatchKind Kind, string? Table = null, bool Regex = false, bool Negate = false);
