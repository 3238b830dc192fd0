using Smtpd.Mta.TlsPolicy.Rpt;

namespace Smtpd.Tests.Mta.TlsPolicy;

// The periods a TLS-RPT report covers (its date-range): whole UTC days unless the test knob
// SMTPD_TLSRPT_PERIOD is set.
public sealed class TlsRptScheduleTests
{
    static SmtpdSettings From(Dictionary<string, string> env) => SmtpdSettings.FromEnvironment(name => env.GetValueOrDefault(name), privileged: false);

    [Fact]
    public void Without_the_knob_reports_cover_utc_days_from_midnight_to_midnight()
    {
        var settings = From([]);
        Assert.Null(settings.TlsRptPeriod);
        var schedule = new TlsRptSchedule(settings.TlsRptPeriod);

        // Started at 13:05 in UTC+2: the first period is that UTC day, 00:00Z to 24:00Z.
        var (start, end) = schedule.First(new DateTimeOffset(2026, 12, 7, 13, 5, 9, TimeSpan.FromHours(2)));
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero), start);
        Assert.Equal(new DateTimeOffset(2026, 12, 8, 0, 0, 0, TimeSpan.Zero), end);
        Assert.Equal((end, new DateTimeOffset(2026, 12, 9, 0, 0, 0, TimeSpan.Zero)), schedule.After(end));

        // Just before midnight UTC (already the next day in UTC+2): still the UTC day that is ending.
        Assert.Equal(new DateTimeOffset(2026, 12, 31, 0, 0, 0, TimeSpan.Zero),
            schedule.First(new DateTimeOffset(2027, 1, 1, 1, 59, 59, TimeSpan.FromHours(2))).Start);
    }

    [Fact]
    public void With_the_knob_periods_of_that_length_follow_each_other_from_the_start()
    {
        var settings = From(new() { ["SMTPD_TLSRPT_PERIOD"] = "3" });
        Assert.Equal(TimeSpan.FromSeconds(3), settings.TlsRptPeriod);
        Assert.Contains("SMTPD_TLSRPT_PERIOD=3", settings.NonDefault);
        var schedule = new TlsRptSchedule(settings.TlsRptPeriod);
        var now = new DateTimeOffset(2026, 12, 7, 13, 5, 9, TimeSpan.Zero);
        Assert.Equal((now, now.AddSeconds(3)), schedule.First(now));
        Assert.Equal((now.AddSeconds(3), now.AddSeconds(6)), schedule.After(now.AddSeconds(3)));
    }
}
