using Smtpd.Config;
using Smtpd.Lookup;
using Smtpd.Queue;
using Smtpd.Smtp.Auth;
using Smtpd.Table;

namespace Smtpd.Smtp;

/// <summary>
/// What every SMTP session shares: configuration, lookups, the queue and the bus. A reload makes
/// a copy with the new configuration's parts (<c>with</c>); a session keeps the one it started with.
/// </summary>
public sealed record SmtpContext
{
    public required Ruleset Ruleset { get; init; }
    public required RecipientResolver Recipients { get; init; }
    /// <summary>The queue component's way in: sessions write their own message file, the queue commits it.</summary>
    public required Enqueuer Queue { get; init; }
    public required Bus Bus { get; init; }
    public required SmtpdLog Log { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
    public required TableSet Tables { get; init; }
    public required Authenticator Authenticator { get; init; }
    /// <summary>The addresses of our own interfaces: clients from them are <c>from local</c>.</summary>
    public required IReadOnlySet<System.Net.IPAddress> LocalAddresses { get; init; }
    /// <summary>The filter component; null when the configuration declares no filter.</summary>
    public Filter.FilterHost? Filters { get; init; }
    /// <summary>The daemon's resolver, asked for each client's reverse name; null: clients have none.</summary>
    public Lookup.Dns.IDnsResolver? Names { get; init; }
    /// <summary>How long a TLS handshake may take before the client is dropped; it holds no one else up.</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether the queue has room for a message of the declared size (0: unknown); null when
    /// the queue is not on disk. A false gives 452 4.3.1 at MAIL FROM.
    /// </summary>
    public Func<long, bool>? SpoolHasRoom { get; init; }

    /// <summary>The descriptors kept free: below the reserve, no new connection is accepted.</summary>
    public DescriptorReserve Descriptors { get; init; } = DescriptorReserve.ForThisProcess();

    /// <summary>How long a client may stay silent between commands (RFC 5321 4.5.3.2.7: at least 5 min).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>How long a client may stay silent during DATA (RFC 5321 4.5.3.2.5: at least 3 min).</summary>
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Commands longer than this get 500 (RFC 5321 allows 512; parameters make real ones longer).</summary>
    public int MaxCommandLine { get; init; } = 4096;
    /// <summary>A client that gets this many error replies in one session is disconnected.</summary>
    public int MaxErrors { get; init; } = 10;
}
