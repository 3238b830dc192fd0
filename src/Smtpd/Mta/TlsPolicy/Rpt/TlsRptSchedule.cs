namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>
/// The periods TLS-RPT reports cover: whole UTC days, 00:00Z to 24:00Z (RFC 8460 4.1), the
/// first being the day the daemon started in; or, with the test knob SMTPD_TLSRPT_PERIOD,
/// periods of that length from the start.
/// </summary>
/// <param name="Length">The knob's period; null: UTC days.</param>
public sealed record TlsRptSchedule(TimeSpan? Length)
{
    static readonly TimeSpan Day = TimeSpan.FromDays(1);

    /// <summary>The period <paramref name="now"/> is in.</summary>
    public (DateTimeOffset Start, DateTimeOffset End) First(DateTimeOffset now)
    {
        if (Length is { } length) return (now, now + length);
        var midnight = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        return (midnight, midnight + Day);
    }

    /// <summary>The period after the one that ends at <paramref name="end"/>.</summary>
    public (DateTimeOffset Start, DateTimeOffset End) After(DateTimeOffset end) => (end, end + (Length ?? Day));
}
