using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Control.Json;

/// <summary>
/// One envelope of <c>smtpctl show queue</c>: rendered as OpenSMTPD's line by
/// <see cref="QueueListing"/> and as one JSON object per line by <c>show queue -j</c> (and the
/// admin API). Field names are snake_case and documented in the README; keep them stable.
/// </summary>
public sealed record QueueEntry
{
    /// <summary>The envelope id, 16 hex digits as the human output prints it.</summary>
    public required string Id { get; init; }
    /// <summary>The message id, the envelope id's first 8 hex digits.</summary>
    public required string Msgid { get; init; }
    /// <summary>Where the message came from: local, inet4 or inet6.</summary>
    public required string Src { get; init; }
    /// <summary>What delivers it: mda, mta or bounce (a report yet to be sent).</summary>
    public required string Agent { get; init; }
    /// <summary>bounce (null sender), auth (authenticated sender), suspend (held: paused by the admin or quarantined), quarantine (by a milter).</summary>
    public required IReadOnlyList<string> Flags { get; init; }
    /// <summary>MAIL FROM, "" for the null sender.</summary>
    public required string Sender { get; init; }
    public required string Rcpt { get; init; }
    public required string Dest { get; init; }
    public required long Creation { get; init; }
    public required string CreationIso { get; init; }
    public required long Expire { get; init; }
    public required string ExpireIso { get; init; }
    /// <summary>Null when never tried.</summary>
    public required long? LastTry { get; init; }
    public required string? LastTryIso { get; init; }
    public required int Retry { get; init; }
    /// <summary>pending or inflight.</summary>
    public required string State { get; init; }
    /// <summary>The number the human output prints after the state: seconds until the next try (pending) or in flight (inflight).</summary>
    public required long StateSeconds { get; init; }
    /// <summary>Pending: when it is tried next (it may be due already); null when in flight.</summary>
    public required long? NextTry { get; init; }
    public required string? NextTryIso { get; init; }
    /// <summary>In flight: when its attempt began; null when pending.</summary>
    public required long? InflightSince { get; init; }
    public required string? InflightSinceIso { get; init; }
    /// <summary>The last failure's reply or reason; null when none.</summary>
    public required string? LastError { get; init; }
    /// <summary>Why a milter quarantined it (held until released); null when it is not quarantined.</summary>
    public required string? Quarantine { get; init; }

    public static QueueEntry From(Envelope e, ScheduledEnvelope s, DateTimeOffset now)
    {
        var flags = new List<string>();
        if (e.Sender.Length == 0) flags.Add("bounce");
        if (e.Username is not null) flags.Add("auth");
        if (s.Suspended) flags.Add("suspend");
        if (s.Info.Quarantined) flags.Add("quarantine");
        bool inflight = s.State == "inflight";
        return new QueueEntry
        {
            Id = $"{e.Id:x16}",
            Msgid = $"{e.MessageId:x8}",
            Src = e.SockAddr is "local" or "" ? "local" : e.SockAddr.Contains(':') ? "inet6" : "inet4",
            Agent = e.Type switch { EnvelopeType.Mda => "mda", EnvelopeType.Mta => "mta", _ => "bounce" },
            Flags = flags,
            Sender = e.Sender,
            Rcpt = e.Rcpt,
            Dest = e.Dest,
            Creation = JsonTime.Unix(e.CreationTime),
            CreationIso = JsonTime.Iso(e.CreationTime),
            Expire = e.CreationTime.ToUnixTimeSeconds() + e.Ttl,
            ExpireIso = JsonTime.Iso(DateTimeOffset.FromUnixTimeSeconds(e.CreationTime.ToUnixTimeSeconds() + e.Ttl)),
            LastTry = JsonTime.Unix(e.LastTry),
            LastTryIso = JsonTime.Iso(e.LastTry),
            Retry = e.Retry,
            State = inflight ? "inflight" : "pending",
            StateSeconds = Seconds(inflight ? now - s.Due : s.Due - now),
            NextTry = inflight ? null : JsonTime.Unix(s.Due),
            NextTryIso = inflight ? null : JsonTime.Iso(s.Due),
            InflightSince = inflight ? JsonTime.Unix(s.Due) : null,
            InflightSinceIso = inflight ? JsonTime.Iso(s.Due) : null,
            LastError = e.ErrorLine,
            Quarantine = s.Info.Quarantined ? e.Quarantine ?? "" : null,
        };
    }

    static long Seconds(TimeSpan t) => (long)Math.Max(0, t.TotalSeconds);
}
