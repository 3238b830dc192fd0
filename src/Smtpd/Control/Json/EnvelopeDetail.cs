using Smtpd.Queue;

namespace Smtpd.Control.Json;

/// <summary>
/// <c>smtpctl show envelope ID -j</c> (and the admin API's envelope detail): the envelope the
/// queue keeps, the same record <c>show envelope</c> prints as OpenSMTPD's <c>key: value</c> file
/// text. Each field is named after its key in that text, snake_case; times as Unix seconds and ISO 8601.
/// </summary>
public sealed record EnvelopeDetail
{
    public required string Id { get; init; }
    public required string Msgid { get; init; }
    /// <summary>mda, mta or bounce.</summary>
    public required string Type { get; init; }
    /// <summary>The action that delivers it.</summary>
    public required string Dispatcher { get; init; }
    public required string? Tag { get; init; }
    public required string Smtpname { get; init; }
    public required string Helo { get; init; }
    public required string Hostname { get; init; }
    public required string? Username { get; init; }
    public required string Sockaddr { get; init; }
    /// <summary>MAIL FROM, "" for the null sender.</summary>
    public required string Sender { get; init; }
    public required string Rcpt { get; init; }
    public required string Dest { get; init; }
    public required long Ctime { get; init; }
    public required string CtimeIso { get; init; }
    /// <summary>Seconds it may stay in the queue from ctime.</summary>
    public required long Ttl { get; init; }
    public required long Expire { get; init; }
    public required string ExpireIso { get; init; }
    /// <summary>Null when never tried (the text says 0).</summary>
    public required long? LastTry { get; init; }
    public required string? LastTryIso { get; init; }
    /// <summary>Null when no delay report was sent (the text says 0).</summary>
    public required long? LastBounce { get; init; }
    public required string? LastBounceIso { get; init; }
    public required int Retry { get; init; }
    /// <summary>The text's errorline: the last failure's reply or reason; null when none.</summary>
    public required string? LastError { get; init; }
    /// <summary>The enhanced status of the last failure (RFC 3463): class 4 or 5 and subject*10+detail; null before any.</summary>
    public required int? EscClass { get; init; }
    public required int? EscCode { get; init; }
    /// <summary>RCPT TO's NOTIFY= words (success, failure, delay, never); empty when not given.</summary>
    public required IReadOnlyList<string> DsnNotify { get; init; }
    public required string? DsnRet { get; init; }
    public required string? DsnEnvid { get; init; }
    public required string? DsnOrcpt { get; init; }
    public required string? MdaUser { get; init; }
    public required string? MdaSubaddress { get; init; }
    public required string? MdaMethod { get; init; }
    public required string? MdaTarget { get; init; }
    /// <summary>Why a milter quarantined it (held until released); null when it is not quarantined.</summary>
    public required string? Quarantine { get; init; }

    public static EnvelopeDetail From(Envelope e)
    {
        var notify = new List<string>();
        foreach (var (flag, word) in new[] { (Queue.DsnNotify.Success, "success"), (Queue.DsnNotify.Failure, "failure"), (Queue.DsnNotify.Delay, "delay"), (Queue.DsnNotify.Never, "never") })
            if (e.DsnNotify.HasFlag(flag)) notify.Add(word);
        bool mda = e.Type == EnvelopeType.Mda;
        return new EnvelopeDetail
        {
            Id = $"{e.Id:x16}",
            Msgid = $"{e.MessageId:x8}",
            Type = e.Type switch { EnvelopeType.Mda => "mda", EnvelopeType.Mta => "mta", _ => "bounce" },
            Dispatcher = e.Dispatcher,
            Tag = e.Tag,
            Smtpname = e.SmtpName,
            Helo = e.Helo,
            Hostname = e.Hostname,
            Username = e.Username,
            Sockaddr = e.SockAddr,
            Sender = e.Sender,
            Rcpt = e.Rcpt,
            Dest = e.Dest,
            Ctime = JsonTime.Unix(e.CreationTime),
            CtimeIso = JsonTime.Iso(e.CreationTime),
            Ttl = e.Ttl,
            Expire = e.CreationTime.ToUnixTimeSeconds() + e.Ttl,
            ExpireIso = JsonTime.Iso(DateTimeOffset.FromUnixTimeSeconds(e.CreationTime.ToUnixTimeSeconds() + e.Ttl)),
            LastTry = JsonTime.Unix(e.LastTry),
            LastTryIso = JsonTime.Iso(e.LastTry),
            LastBounce = JsonTime.Unix(e.LastBounce),
            LastBounceIso = JsonTime.Iso(e.LastBounce),
            Retry = e.Retry,
            LastError = e.ErrorLine,
            // As the text: both only once a failure has set the class.
            EscClass = e.EscClass != 0 ? e.EscClass : null,
            EscCode = e.EscClass != 0 ? e.EscCode : null,
            DsnNotify = notify,
            DsnRet = e.DsnRet,
            DsnEnvid = e.DsnEnvid,
            DsnOrcpt = e.DsnOrcpt,
            // The text has these for local deliveries only.
            MdaUser = mda ? e.MdaUser : null,
            MdaSubaddress = mda ? e.MdaSubaddress : null,
            MdaMethod = mda ? e.MdaMethod : null,
            MdaTarget = mda ? e.MdaTarget : null,
            Quarantine = e.Quarantine,
        };
    }
}
