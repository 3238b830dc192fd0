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

    /// <summary>Where the seed grammar's <c>certificate NAME</c> finds NAME.crt and NAME.key (SMTPD_CERTDIR, given to the parser).</summary>
    public string CertificateDirectory { get; init; } = Smtp.Tls.CertificateFiles.DefaultDirectory;

    /// <summary>The file this came from, or "(default)" for the embedded configuration.</summary>
    public string Source { get; init; } = "(default)";

    /// <summary><c>queue compression</c> (seed: <c>queue compress</c>): store queue files compressed.</summary>
    public bool QueueCompression { get; init; }

    /// <summary><c>queue encryption [KEY]</c>: encrypt queue files.</summary>
    public bool QueueEncryption { get; init; }

    /// <summary>The key given to <c>queue encryption</c>; "stdin" when it is to be read from
    /// standard input; null when none was given (OpenSMTPD then asks for it).</summary>
    public string? QueueEncryptionKey { get; init; }

    /// <summary><c>bounce warn-interval D[, D...]</c>: when to warn senders of delayed mail.</summary>
    public IReadOnlyList<TimeSpan> BounceWarnIntervals { get; init; } = [TimeSpan.FromHours(4)];

    /// <summary><c>smtp limit max-mails N</c>: messages per session.</summary>
    public int MaxMailsPerSession { get; init; } = 100;

    /// <summary><c>smtp limit max-rcpt N</c>: recipients per transaction.</summary>
    public int MaxRecipientsPerTransaction { get; init; } = 1000;

    /// <summary><c>smtp sub-addr-delim C</c>: the sub-address delimiter of local parts.</summary>
    public char SubAddressDelimiter { get; init; } = '+';

    /// <summary><c>smtp ciphers S</c>, or null for the default.</summary>
    public string? SmtpCiphers { get; init; }

    /// <summary><c>metrics listen on ADDRESS port PORT [public]</c>; null: no metrics endpoint.</summary>
    public MetricsListenerConfig? Metrics { get; init; }
    /// <summary><c>admin listen on ADDRESS port PORT auth &lt;TABLE&gt;</c>; null: no admin page.</summary>
    public AdminListenerConfig? Admin { get; init; }

    /// <summary><c>mta max-deferred N</c>.</summary>
    public int MtaMaxDeferred { get; init; } = 100;

    /// <summary><c>tls-policy &lt;TABLE&gt;</c>: domain → <see cref="TlsPolicyChoice"/> for MX relaying; null: none.</summary>
    public string? TlsPolicyTable { get; init; }

    /// <summary><c>tls-policy default X</c>: the choice for domains the table does not name.</summary>
    public TlsPolicyChoice TlsPolicyDefault { get; init; } = TlsPolicyChoice.Auto;

    /// <summary><c>tls-rpt domain DOMAIN contact ADDRESS</c>: TLS-RPT reports are sent, as DOMAIN (organization-name), naming ADDRESS as contact; null: off.</summary>
    public string? TlsRptDomain { get; init; }
    public string? TlsRptContact { get; init; }

    /// <summary><c>admd NAME</c>: the authserv-id given to filters; null means the hostname.</summary>
    public string? Admd { get; init; }

    /// <summary><c>srs key S</c> and <c>srs key backup S</c>.</summary>
    public string? SrsKey { get; init; }
    public string? SrsBackupKey { get; init; }

    /// <summary><c>srs ttl D</c>.</summary>
    public TimeSpan SrsTtl { get; init; } = TimeSpan.FromDays(4);

    /// <summary><c>pki NAME cert FILE</c> / <c>pki NAME key FILE</c>, by name.</summary>
    public IReadOnlyDictionary<string, PkiConfig> Pkis { get; init; } = new Dictionary<string, PkiConfig>();

    /// <summary><c>ca NAME cert FILE</c>, by name.</summary>
    public IReadOnlyDictionary<string, CaConfig> Cas { get; init; } = new Dictionary<string, CaConfig>();

    /// <summary><c>mda wrapper NAME COMMAND</c>, by name.</summary>
    public IReadOnlyDictionary<string, string> MdaWrappers { get; init; } = new Dictionary<string, string>();

    /// <summary><c>filter NAME ...</c> declarations, by name, typed for the filter component.</summary>
    public IReadOnlyDictionary<string, FilterConfig> Filters { get; init; } = new Dictionary<string, FilterConfig>();

    /// <summary><c>proc NAME "command"</c> declarations (a separate namespace, as in OpenSMTPD).</summary>
    public IReadOnlyDictionary<string, FilterConfig> Procs { get; init; } = new Dictionary<string, FilterConfig>();
}

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
    /// <summary><c>listen on socket</c>: the local enqueuer's socket (Interface is then "socket").</summary>
    public bool IsSocket { get; init; }

    /// <summary>Every other option as written, with its arguments, in order, e.g. "tls",
    /// "tls-require verify", "smtps", "auth", "auth &lt;users&gt;", "auth-optional", "pki mx.example.org",
    /// "ca NAME", "certificate NAME" (seed), "filter NAME", "mask-src", "no-dsn", "senders &lt;t&gt;",
    /// "senders &lt;t&gt; masquerade", "hostnames &lt;t&gt;", "received-auth", "proxy-v2", "inet4",
    /// "inet6", "protocols P", "ciphers C". Kept for the components that implement them.</summary>
    public IReadOnlyList<string> Options { get; init; } = [];

    public bool HasOption(string name) =>
        Options.Any(o => o == name || o.StartsWith(name + " ", StringComparison.Ordinal));
}

/// <summary>Where a table's contents come from.</summary>
public enum TableBackendKind { Static, File, Db, Sqlite, Postgres, Ldap, Proc }

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
public enum DeliveryMethod
{
    Mbox, Maildir, Mda, Lmtp, Relay,
    /// <summary>Only accept if aliases or ~/.forward give a delivery method.</summary>
    ExpandOnly,
    /// <summary>Only accept if aliases or ~/.forward give a remote address.</summary>
    ForwardOnly,
}

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

    /// <summary><c>ttl D</c> (seed: <c>expire D</c> on the rule); null means Ruleset.Expire.</summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>local: <c>user U</c>, the one user that performs every delivery.</summary>
    public string? User { get; init; }

    /// <summary>local: <c>wrapper NAME</c>, a key of Ruleset.MdaWrappers.</summary>
    public string? Wrapper { get; init; }

    /// <summary>maildir: <c>junk</c>, file messages marked X-Spam into the Junk folder.</summary>
    public bool Junk { get; init; }

    /// <summary>lmtp: <c>rcpt-to</c>, send the recipient address rather than the local user.</summary>
    public bool LmtpRcptTo { get; init; }

    /// <summary>relay: <c>host &lt;t&gt;</c>, a table of relay URLs instead of Host.</summary>
    public string? HostTable { get; init; }

    /// <summary>relay: <c>helo NAME</c>.</summary>
    public string? Helo { get; init; }

    /// <summary>relay: <c>mail-from ADDR</c> (seed: <c>as ADDR</c>).</summary>
    public string? MailFrom { get; init; }

    /// <summary>relay: <c>src &lt;t&gt;</c> (seed: <c>source &lt;t&gt;</c>), source addresses to bind.</summary>
    public string? SourceTable { get; init; }

    /// <summary>relay: <c>helo-src &lt;t&gt;</c> (seed: <c>helo &lt;t&gt;</c>), the HELO name by the source address of the connection.</summary>
    public string? HeloSourceTable { get; init; }

    /// <summary>relay: <c>tls</c> (TLS required) and <c>tls no-verify</c>.</summary>
    public bool RequireTls { get; init; }
    public bool TlsNoVerify { get; init; }

    /// <summary>relay: <c>pki NAME</c>, <c>ca NAME</c> (seed: <c>certificate NAME</c> is kept as Pki).</summary>
    public string? Pki { get; init; }
    public string? Ca { get; init; }

    /// <summary>relay: <c>srs</c>, rewrite senders of forwarded mail.</summary>
    public bool Srs { get; init; }

    /// <summary>Other relay options as written: "domain &lt;t&gt;",
    /// "protocols P", "ciphers C", "filter NAME".</summary>
    public IReadOnlyList<string> Options { get; init; } = [];
}

/// <summary>Which sources a rule applies to.</summary>
public enum FromKind
{
    Any, Local, Source, Socket, Auth,
    /// <summary><c>from rdns [&lt;t&gt;]</c>: the client has a reverse DNS name (in the table).</summary>
    Rdns,
}

/// <param name="Table">For Source: the table of networks; for Auth: optional table of users;
/// for Rdns: optional table of host names.</param>
public sealed record FromCondition(FromKind Kind, string? Table = null, bool Negate = false)
{
    /// <summary><c>regex</c>: the table holds regular expressions.</summary>
    public bool Regex { get; init; }

    public static readonly FromCondition Local = new(FromKind.Local);
    public static readonly FromCondition Any = new(FromKind.Any);
}

/// <summary>Which destinations a rule applies to.</summary>
public enum ForKind { Any, Local, Domain }

/// <param name="Domain">For Domain: a literal domain (may be "*.example.org").</param>
/// <param name="Table">For Domain: a table of domains, instead of a literal.</param>
public sealed record ForCondition(ForKind Kind, string? Domain = null, string? Table = null, bool Negate = false)
{
    /// <summary><c>regex</c>: the domain or the table's entries are regular expressions.</summary>
    public bool Regex { get; init; }

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
    ConfigLocation Location)
{
    /// <summary>Further conditions, all of which must hold: <c>[!]tag</c> (negated or regex),
    /// <c>[!]helo</c>, <c>[!]auth</c>, <c>[!]mail-from</c>, <c>[!]rcpt-to</c>, <c>[!]tls</c>; also
    /// <c>from mail-from</c>, <c>for rcpt-to</c> and the seed's <c>sender &lt;t&gt;</c>.</summary>
    public IReadOnlyList<MatchCondition> Conditions { get; init; } = [];

    /// <summary>Seed grammar (OpenSMTPD 5.x): an authenticated client counts as <c>from local</c>,
    /// which is what makes the "authenticating relay" example's <c>accept for any relay</c> work.
    /// The modern grammar says <c>match auth</c> instead.</summary>
    public bool AuthenticatedIsLocal { get; init; }
}

/// <summary>file:line of a configuration element, for error messages.</summary>
public readonly record struct ConfigLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}
