namespace Smtpd.Config;

/// <summary>
/// A <c>filter NAME ...</c> or <c>proc NAME ...</c> declaration: the words as written (for
/// messages) and what they mean (<see cref="Spec"/>), checked by the parser.
/// </summary>
/// <param name="Keyword">"filter" or "proc".</param>
/// <param name="Definition">The words after the name, joined by spaces (quoted ones re-quoted).</param>
public sealed record FilterConfig(string Name, string Keyword, string Definition, ConfigLocation Location)
{
    public FilterSpec Spec { get; init; } = new FilterSpec.Chain([]);
}
