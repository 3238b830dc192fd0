namespace Smtpd.Config;

/// <summary>
/// A <c>filter NAME ...</c> or <c>proc NAME ...</c> declaration, kept as written for the filter
/// component: the parser only checks that names used by listeners and actions are declared.
/// </summary>
/// <param name="Keyword">"filter" or "proc".</param>
/// <param name="Definition">The words after the name, joined by spaces (quoted ones re-quoted).</param>
public sealed record FilterConfig(string Name, string Keyword, string Definition, ConfigLocation Location);
