namespace Smtpd.Config;

/// <summary>
/// The whole configuration, compiled from either grammar. Immutable: a reload builds a new one.
/// Rules are evaluated in order and the first match wins.
/// </summary>
public sealed record Ruleset
{
    /// <summary>The name used in the banner, EHLO reply and Received: header.</summary>
    public required string Hostname { get; init; }

    /// <summary>Largest message accepted, in bytes (OpenSMTPD's default is 35 MB).</summary>
    public long MaxMessageSize { get; init; } = 35 * 1024 * 1024;

    /// <summary>How long an envelope may stay in the queue before it expires (default 4 days).</summary>
    public TimeSpan Expire { get; init; } = TimeSpan.FromDays(4);

    public IReadOnlyList<ListenerConfig> Listeners { get; init; } = [];
    public IReadOnlyDictionary<string, TableConfig> Tables { get; init; } = new Dictionary<string, TableConfig>();
    public IReadOnlyDictionary<string, ActionConfig> Actions { get; init; } = new Dictionary<string, ActionConfig>();
    public IReadOnlyList<Rule> Rules { get; init; } = [];

    /// <summary><c>queue compression</c>: gzip messages and envelopes in the spool.</summary>
    public bool QueueCompression { get; init; }
    /// <summary><c>queue encryption KEY</c>: the key, or null.</summary>
    public string? QueueEncryptionKey { get; init; }
    /// <summary><c>bounce warn-interval</c>: when to warn senders of delayed mail.</summary>
    public IReadOnlyList<TimeSpan> BounceWarnIntervals { get; init; } = [TimeSpan.FromHours(4)];
    /// <summary><c>pki NAME cert|key FILE</c>: certificate and key files by pki name.</summary>
    public IReadOnlyDictionary<string, PkiConfig> Pki { get; init; } = new Dictionary<string, PkiConfig>();

    /// <summary>The file this came from, or "(default)" for the embedded configuration.</summary>
    public string Source { get; init; } = "(default)";
}

/// <summary>A <c>pki</c> block: the certificate and key files of one name.</summary>
public sealed record PkiConfig(string Name, string? Certificate, string? Key, ConfigLocation Location);

/// <summary><c>listen on IFACE|ADDRESS [port N] [tag T] [hostname H]</c>.</summary>
/// <param name="Interface">An address ("127.0.0.1", "::1", "0.0.0.0"), a host name, an interface
/// name ("lo", "lo0", "eth0") or a group ("localhost", "egress", "any"/"all").</param>
/// <param name="Port">The port, or null for the default (25, or 2525 when not root).</param>
public sealed record ListenerConfig(
    string Interface,
    int? Port,
    string? Tag,
    string? Hostname,
    ConfigLocation Location)
{
    /// <summary>Other options as written (<c>tls</c>, <c>auth</c>, <c>pki NAME</c>, <c>filter NAME</c>...),
    /// kept for the components that will act on them.</summary>
    public IReadOnlyList<string> Options { get; init; } = [];
}

/// <summary>Where a table's contents come from.</summary>
public enum TableBackendKind { Static, File, Db }

/// <summary><c>table NAME static { ... }</c>, <c>table NAME { ... }</c> or <c>table NAME file:PATH</c>.</summary>
/// <param name="List">Entries of a list table (values in braces without "=").</param>
/// <param name="Map">Entries of a mapping table (<c>key = value</c>); keys as written.</param>
public sealed record TableConfig(
    string Name,
    TableBackendKind Backend,
    string? Path,
    IReadOnlyList<string> List,
    IReadOnlyDictionary<string, string> Map,
    ConfigLocation Location)
{
    public bool IsMap => Map.Count > 0;
}

/// <summary>How an action delivers: locally (mbox, maildir, mda, lmtp) or by relaying.</summary>
public enum DeliveryMethod { Mbox, Maildir, Mda, Lmtp, Relay }

/// <summary>
/// A named action (modern grammar), or one synthesized for a seed-grammar <c>accept</c> rule
/// (named "rule-LINE"). The envelope keeps the action name as its "dispatcher".
/// </summary>
/// <param name="Path">maildir path, mda command or lmtp destination; may hold format
/// specifiers such as <c>%{user.username}</c>; null means the method's default.</param>
/// <param name="Host">relay: <c>host URL</c> / seed <c>via URL</c>; null means MX lookup.</param>
/// <param name="Backup">relay: <c>backup [MX]</c>; empty string for plain "backup".</param>
public sealed record ActionConfig(
    string Name,
    DeliveryMethod Method,
    string? Path,
    string? AliasTable,
    string? VirtualTable,
    string? UserbaseTable,
    string? Host,
    string? Backup,
    string? AuthTable,
    ConfigLocation Location)
{
    public bool IsLocal => Method != DeliveryMethod.Relay;

    /// <summary>Other options as written (<c>user U</c>, <c>tls</c>, <c>helo H</c>, <c>junk</c>...).</summary>
    public IReadOnlyList<string> Options { get; init; } = [];
}

/// <summary>Which sources a rule applies to.</summary>
public enum FromKind { Any, Local, Source, Socket, Auth }

/// <param name="Table">For Source: the table of networks; for Auth: optional table of users.</param>
public sealed record FromCondition(FromKind Kind, string? Table = null, bool Negate = false)
{
    public static readonly FromCondition Local = new(FromKind.Local);
    public static readonly FromCondition Any = new(FromKind.Any);
}

/// <summary>Which destinations a rule applies to.</summary>
public enum ForKind { Any, Local, Domain }

/// <param name="Domain">For Domain: a literal domain (may be "*.example.org").</param>
/// <param name="Table">For Domain: a table of domains, instead of a literal.</param>
public sealed record ForCondition(ForKind Kind, string? Domain = null, string? Table = null, bool Negate = false)
{
    public static readonly ForCondition Local = new(ForKind.Local);
    public static readonly ForCondition Any = new(ForKind.Any);
}

/// <summary>
/// One routing rule: conditions and either an action or a rejection. Seed grammar
/// <c>accept ... deliver to mbox</c> and modern <c>match ... action NAME</c> both compile to this.
/// </summary>
/// <param name="Tag">Only sessions from a listener with this tag (seed: <c>tagged T</c>).</param>
public sealed record Rule(
    bool Reject,
    FromCondition From,
    ForCondition For,
    string? Tag,
    string? ActionName,
    ConfigLocation Location);

/// <summary>file:line of a configuration element, for error messages.</summary>
public readonly record struct ConfigLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}
