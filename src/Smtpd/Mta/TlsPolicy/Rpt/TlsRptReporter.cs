using System.Globalization;
using MimeKit;
using Smtpd.Lookup;
using Smtpd.Lookup.Dns;
using Smtpd.Queue;
using Smtpd.Smtp;

namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>
/// Sends TLS-RPT aggregate reports (RFC 8460) when <c>tls-rpt</c> is on: at the end of each
/// period (a UTC day; SMTPD_TLSRPT_PERIOD for tests, see <see cref="TlsRptSchedule"/>) it
/// takes the MTA's records and, for each destination domain with a <c>_smtp._tls</c> record
/// (asked again, a few times, while the resolver cannot answer), sends one gzip-compressed JSON report to each of its
/// <c>rua</c> URIs: mailto: as a message put into our own queue (routed by the rules like
/// local mail, with an empty sender as a bounce has, retried by the queue as any mail),
/// https: by POST (tried again on failure, see <see cref="TlsRptPoster"/>). Reports never go
/// anywhere else: a domain without the record gets none.
/// </summary>
/// <param name="state">Where the counts of the period under way are kept across a stop (<see cref="TlsRptState"/>); null: in memory only.</param>
public sealed class TlsRptReporter(Reload.LiveConfig config, Enqueuer queue, IDnsResolver dns, TlsRptRecorder recorder,
    TimeProvider time, SmtpdLog log, TimeSpan? period, HttpClient? web = null, string? state = null)
{
    // The POSTs go through the given client (a test's endpoint), else over our resolver.
    readonly TlsRptPoster _poster = new(web ?? ResolvingHttpClient.Create(dns, TimeSpan.FromSeconds(30)), time, log);

    public async Task RunAsync(CancellationToken ct)
    {
        var schedule = new TlsRptSchedule(period);
        var (start, end) = schedule.First(time.GetUtcNow());
        // Written every few minutes (a crash loses no more) and when smtpd stops.
        var saveEvery = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(5).Ticks, (end - start).Ticks / 20));
        try
        {
            // The counts saved before a stop: a period that ended meanwhile is reported now (late,
            // with its own dates; out of the file first); the one under way goes on counting.
            if (state is not null && TlsRptState.Load(state, log) is { } saved)
            {
                if (saved.End > time.GetUtcNow()) recorder.Add(saved.Records);
                else
                {
                    Save(start, end, []);
                    await ReportAsync(saved, ct);
                }
            }
            while (true)
            {
                // Waits on the clock's own reading: a wait that ends early (or a clock set back) waits again.
                for (var left = end - time.GetUtcNow(); left > TimeSpan.Zero; left = end - time.GetUtcNow())
                {
                    await Task.Delay(left < saveEvery ? left : saveEvery, time, ct);
                    Save(start, end, recorder.Copy());
                }
                var taken = recorder.Take(start, end);
                // The taken counts leave the file before they are reported: never reported twice.
                (start, end) = schedule.After(end);
                Save(start, end, []);
                await ReportAsync(taken, ct);
            }
        }
        catch (OperationCanceledException) { Save(start, end, recorder.Copy()); }
    }

    async Task ReportAsync(TlsRptRecorder.Period taken, CancellationToken ct)
    {
        var ruleset = config.Current.Ruleset;
        if (ruleset.TlsRptDomain is not { } organization || ruleset.TlsRptContact is not { } contact) return;
        await ReportPeriodAsync(taken, organization, contact, ct);
    }

    void Save(DateTimeOffset start, DateTimeOffset end, IReadOnlyList<TlsRptRecorder.PolicyRecord> records)
    {
        if (state is null || config.Current.Ruleset.TlsRptDomain is null) return;
        try { TlsRptState.Save(state, start, end, records); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.Warn($"tls-rpt: cannot save the counts in {state}: {SystemErrors.Describe(ex)}");
        }
    }

    async Task ReportPeriodAsync(TlsRptRecorder.Period taken, string organization, string contact, CancellationToken ct)
    {
        if (dns is not IDnssecResolver txt) return;
        // The POSTs and their retries run side by side, each domain's report queued meanwhile.
        var posts = new List<Task>();
        var pending = taken.Records.GroupBy(r => r.Domain, StringComparer.OrdinalIgnoreCase).ToList();
        var wait = Backoff(taken);
        for (int attempt = 1; pending.Count > 0; attempt++)
        {
            // Domains whose _smtp._tls the resolver could not answer are asked again together, after a back-off.
            var unanswered = new List<IGrouping<string, TlsRptRecorder.PolicyRecord>>();
            foreach (var domain in pending)
            {
                try
                {
                    TlsRptRecord? record;
                    try { record = await RuaAsync(txt, domain.Key, ct); }
                    catch (DnsTempFailException) when (attempt < TlsRptPoster.Tries) { unanswered.Add(domain); continue; }
                    if (record is not null) await ReportAsync(domain.Key, [.. domain], record, organization, contact, taken, posts, ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    log.Warn($"tls-rpt: report for {domain.Key} not sent: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                }
            }
            if (unanswered.Count == 0) break;
            log.Info($"tls-rpt: no answer for _smtp._tls of {string.Join(", ", unanswered.Select(d => d.Key))} (try {attempt} of {TlsRptPoster.Tries}); next try in {Durations.Format(wait)}");
            await Task.Delay(wait, time, ct);
            wait *= 4;
            pending = unanswered;
        }
        await Task.WhenAll(posts);
    }

    /// <summary>The domain's published report destinations; null when it publishes none.</summary>
    static async Task<TlsRptRecord?> RuaAsync(IDnssecResolver txt, string domain, CancellationToken ct)
    {
        var answer = await txt.QueryDnssecAsync($"_smtp._tls.{domain}", DnsRecordType.Txt, ct);
        return TlsRptRecord.Find(answer.Records.OfType<DnsAnswer.Txt>().Select(r => r.Text));
    }

    async Task ReportAsync(string domain, List<TlsRptRecorder.PolicyRecord> records, TlsRptRecord record, string organization, string contact,
        TlsRptRecorder.Period taken, List<Task> posts, CancellationToken ct)
    {
        string reportId = $"{taken.Start.ToUnixTimeSeconds()}.{domain}@{organization}";
        byte[] gzip = TlsRptReport.Gzip(TlsRptReport.Json(organization, contact, reportId, taken.Start, taken.End, records));
        string file = $"{organization}!{domain}!{taken.Start.ToUnixTimeSeconds()}!{taken.End.ToUnixTimeSeconds()}.json.gz";
        foreach (var uri in record.Rua)
        {
            if (uri.Scheme == "mailto") await MailAsync(uri, domain, organization, reportId, file, gzip, ct);
            else posts.Add(_poster.PostAsync(uri, domain, gzip, Backoff(taken), ct));
        }
    }

    /// <summary>RFC 8460 5.3: a multipart/report of type tlsrpt, the report attached as application/tlsrpt+gzip.</summary>
    async Task MailAsync(Uri uri, string domain, string organization, string reportId, string file, byte[] gzip, CancellationToken ct)
    {
        // "mailto:addr[?headers]" (RFC 6068): the address only.
        string to = Uri.UnescapeDataString(uri.OriginalString["mailto:".Length..].Split('?')[0]);
        if (!MailAddress.TryParse(to, allowNoDomain: false, out var rcpt)) { log.Warn($"tls-rpt: {domain}: bad rua {uri}"); return; }
        var generation = config.Current;
        var deliveries = await Enqueuer.LocalDeliveriesAsync(generation, rcpt, ct);
        if (deliveries.Count == 0) { log.Warn($"tls-rpt: no rule routes a report to <{rcpt}>; dropped"); return; }

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(organization, $"noreply-smtp-tls-reporting@{organization}"));
        message.To.Add(new MailboxAddress("", rcpt.ToString()));
        message.Subject = $"Report Domain: {domain} Submitter: {organization} Report-ID: <{reportId}>";
        message.Date = time.GetUtcNow();
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(organization);
        message.Headers.Add("TLS-Report-Domain", domain);
        message.Headers.Add("TLS-Report-Submitter", organization);
        var report = new MultipartReport("tlsrpt")
        {
            new TextPart("plain") { Text = $"This is an aggregate TLS report from {organization} for {domain}.\r\n" },
            new MimePart("application", "tlsrpt+gzip")
            {
                Content = new MimeContent(new MemoryStream(gzip)),
                ContentTransferEncoding = ContentEncoding.Base64,
                ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
                FileName = file,
            },
        };
        message.Body = report;

        var (msgid, envelopes) = await queue.EnqueueGeneratedAsync(message, rcpt.ToString(), deliveries, generation.Ruleset, time.GetUtcNow(), ct);
        log.Info($"{envelopes[0].Id:x16} tls-rpt report msgid={msgid:x8} domain={domain} to=<{rcpt}> report-id=\"{reportId}\"");
    }

    /// <summary>The first wait before a failed POST is tried again: a minute, less for a short test period (all tries end well within it).</summary>
    static TimeSpan Backoff(TlsRptRecorder.Period period) =>
        TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(1).Ticks, (period.End - period.Start).Ticks / 20));
}
