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

    /// <summary><c>filter NAME milter "inet:HOST:PORT" [connect-timeout D] [command-timeout D] [eom-timeout D]
    /// [on-failure tempfail|accept|reject]</c> (ours): a Sendmail/Postfix milter, one connection per session.</summary>
    /// <param name="Address">Where it listens, as written (<c>inet:</c>, <c>inet6:</c> or <c>unix:</c>).</param>
    public sealed record Milter(string Address, TimeSpan ConnectTimeout, TimeSpan CommandTimeout, TimeSpan EomTimeout, MilterFailureAction OnFailure) : FilterSpec
    {
        // Postfix's milter_connect_timeout, milter_command_timeout and milter_content_timeout.
        public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(30);
        public static readonly TimeSpan DefaultCommandTimeout = TimeSpan.FromSeconds(30);
        public static readonly TimeSpan DefaultEomTimeout = TimeSpan.FromSeconds(300);
    }
}

/// <summary>What a session gets when its milter cannot be reached, hangs or breaks the protocol
/// (Postfix's milter_default_action).</summary>
public enum MilterFailureAction { TempFail, Accept, Reject }

public enum FilterConditionKind { Fcrdns, Rdns, Src, Helo, Auth, MailFrom, RcptTo }

/// <summary>One condition of a built-in filter: <c>[!] KIND [regex] [&lt;table&gt; | "pattern"]</c>.</summary>
/// <param name="Table">The table to look in, if any.</param>
/// <param name="Pattern">An inline regular expression (<c>helo regex "^mx"</c>), our addition.</param>
public sealed record FilterCondition(FilterConditionKind Kind, bool Negated, string? Table = null, bool Regex = false, string? Pattern = null);

public enum FilterDecision { Bypass, Disconnect, Junk, Reject, Rewrite, Report }
