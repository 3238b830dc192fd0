namespace Smtpd.Config;

/// <summary>
/// What a <c>filter NAME ...</c> or <c>proc NAME ...</c> declaration says (smtpd.conf(5), "MAIL
/// FILTERING"), typed for the filter component.
/// </summary>
public abstract record FilterSpec
{
    /// <summary><c>proc NAME "command"</c> or <c>filter NAME proc-exec "command"</c>: a process
    /// speaking smtpd-filters(7), run through /bin/sh.</summary>
    public sealed record Process(string Command, string? User = null, string? Group = null, string? Chroot = null) : FilterSpec;

    /// <summary><c>filter NAME proc PROC</c>: the process declared by <c>proc PROC</c>.</summary>
    public sealed record UsesProc(string Proc) : FilterSpec;

    /// <summary><c>filter NAME chain { a, b }</c>: the filters in order, for each phase.</summary>
    public sealed record Chain(IReadOnlyList<string> Filters) : FilterSpec;

    /// <summary><c>filter NAME phase PHASE match CONDITIONS DECISION</c>.</summary>
    /// <param name="Parameter">The reply of reject/disconnect, the value of rewrite/report.</param>
    public sealed record Builtin(string Phase, IReadOnlyList<FilterCondition> Conditions, FilterDecision Decision, string? Parameter) : FilterSpec;

    /// <summary><c>filter NAME dkim-sign domain D selector S key "path" [algorithm A] [headers "a:b"]</c>
    /// (our grammar): a DKIM-Signature added at data-line.</summary>
    public sealed record DkimSign(string Domain, string Selector, string KeyFile, string Algorithm, IReadOnlyList<string> Headers) : FilterSpec;
}

public enum FilterConditionKind { Fcrdns, Rdns, Src, Helo, Auth, MailFrom, RcptTo }

/// <summary>One condition of a built-in filter: <c>[!] KIND [regex] [&lt;table&gt; | "pattern"]</c>.</summary>
/// <param name="Table">The table to look in, if any.</param>
/// <param name="Pattern">An inline regular expression (<c>helo regex "^mx"</c>), our addition.</param>
public sealed record FilterCondition(FilterConditionKind Kind, bool Negated, string? Table = null, bool Regex = false, string? Pattern = null);

public enum FilterDecision { Bypass, Disconnect, Junk, Reject, Rewrite, Report }
