namespace Smtpd.Queue;

/// <summary>What the scheduler hands an envelope to: local delivery, a relay, or a bounce.</summary>
public enum EnvelopeType { Mda, Mta, Bounce }

/// <summary>RCPT TO's NOTIFY= (RFC 3461), stored as OpenSMTPD's dsn-notify bitmask. None: not given (failures and delays are reported).</summary>
[Flags]
public enum DsnNotify : byte { None = 0, Success = 1, Failure = 2, Delay = 4, Never = 8 }

/// <summary>
/// One recipient of one message, as kept in the queue. The id's top 32 bits are the message id.
/// Serialized by <see cref="EnvelopeText"/> as OpenSMTPD's readable <c>key: value</c> lines.
/// </summary>
public sealed record Envelope
{
    public required ulong Id { get; init; }
    public uint MessageId => (uint)(Id >> 32);

    /// <summary>The name of the action (OpenSMTPD: dispatcher) that delivers it.</summary>
    public required string Dispatcher { get; init; }
    public required EnvelopeType Type { get; init; }
    public string? Tag { get; init; }

    /// <summary>Our own name as given to the client (listener hostname).</summary>
    public string SmtpName { get; init; } = "";
    public string Helo { get; init; } = "";
    /// <summary>The client's host name (reverse DNS or the address in brackets).</summary>
    public string Hostname { get; init; } = "";
    /// <summary>The authenticated user, if any.</summary>
    public string? Username { get; init; }
    public string SockAddr { get; init; } = "";

    /// <summary>MAIL FROM address, "" for the null sender.</summary>
    public required string Sender { get; init; }
    /// <summary>The address as the client gave it in RCPT TO.</summary>
    public required string Rcpt { get; init; }
    /// <summary>The address after expansion, which delivery targets.</summary>
    public required string Dest { get; init; }

    /// <summary>Local deliveries: the system (or virtual) user that receives it.</summary>
    public string? MdaUser { get; init; }
    /// <summary>Local deliveries: the <c>+tag</c> part of the local part, if any.</summary>
    public string? MdaSubaddress { get; init; }
    /// <summary>Set by alias/.forward expansion: "mda" (a |command) or "file" (a /path), with its target;
    /// null means the action's own method.</summary>
    public string? MdaMethod { get; init; }
    public string? MdaTarget { get; init; }

    public required DateTimeOffset CreationTime { get; init; }
    /// <summary>Seconds the envelope may stay in the queue (OpenSMTPD's "ttl").</summary>
    public required long Ttl { get; init; }
    public DateTimeOffset? LastTry { get; init; }
    public DateTimeOffset? LastBounce { get; init; }
    public int Retry { get; init; }
    public string? ErrorLine { get; init; }
    /// <summary>
    /// OpenSMTPD's esc-class and esc-code: the class (4 temporary, 5 permanent; 0 none yet) and
    /// subject*10+detail of the enhanced status (RFC 3463) of the last failure.
    /// </summary>
    public byte EscClass { get; init; }
    public byte EscCode { get; init; }

    /// <summary>DSN (RFC 3461): NOTIFY and ORCPT of the recipient, RET and ENVID of the message.</summary>
    public DsnNotify DsnNotify { get; init; }
    public string? DsnOrcpt { get; init; }
    /// <summary>"FULL" or "HDRS" (what a report returns of the message); null: not given.</summary>
    public string? DsnRet { get; init; }
    public string? DsnEnvid { get; init; }

    /// <summary>Whether a failure should be reported to the sender (not for a bounce, nor NOTIFY=NEVER or without FAILURE).</summary>
    public bool WantsFailureReport => Sender.Length > 0 && (DsnNotify == DsnNotify.None || DsnNotify.HasFlag(DsnNotify.Failure));

    public DateTimeOffset ExpiresAt => CreationTime.AddSeconds(Ttl);

    /// <summary>
    /// Why a milter quarantined the message (SMFIR_QUARANTINE); while set, the envelope is held
    /// until <c>smtpctl release</c>, across restarts. Null: not quarantined.
    /// </summary>
    public string? Quarantine { get; init; }
}
