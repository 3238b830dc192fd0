using System.Net;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Mta.TlsPolicy.Rpt;

namespace Smtpd.Tests.Mta.TlsPolicy;

// A TLS-RPT report POSTed to an https: rua (RFC 8460 3) that fails is tried again after a
// growing back-off, three tries in all, on the MTA's clock (a fake one here); the endpoint is
// an in-test HTTP handler that fails as the test says.
public sealed class TlsRptPosterTests
{
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    static readonly Uri Rua = new("https://rpt.example/tlsrpt");
    static readonly TimeSpan Backoff = TimeSpan.FromMinutes(1);

    /// <summary>Answers each POST with the next of its answers (an exception: the connection failed); records what it got and when, on the clock.</summary>
    sealed class ScriptedEndpoint(params object[] answers) : HttpMessageHandler
    {
        readonly List<(string Type, byte[] Body, DateTimeOffset At)> _posts = [];
        public TimeProvider Clock { get; set; } = TimeProvider.System;
        public int Count { get { lock (_posts) return _posts.Count; } }
        public IReadOnlyList<(string Type, byte[] Body, DateTimeOffset At)> Posts { get { lock (_posts) return [.. _posts]; } }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            Assert.Equal(HttpMethod.Post, request.Method);
            var post = (request.Content!.Headers.ContentType!.MediaType!, await request.Content.ReadAsByteArrayAsync(ct), Clock.GetUtcNow());
            int n;
            lock (_posts) { _posts.Add(post); n = _posts.Count; }
            return answers[Math.Min(n, answers.Length) - 1] switch
            {
                HttpStatusCode status => new HttpResponseMessage(status),
                Exception ex => throw ex,
                var other => throw new InvalidOperationException($"bad answer {other}"),
            };
        }
    }

    /// <summary>
    /// Moves the fake clock on in steps of 5 s until the endpoint has <paramref name="count"/> posts.
    /// (Stepping, not one jump: the poster may not have started its wait yet when the test moves the clock.)
    /// </summary>
    static async Task AdvanceUntilAsync(FakeTimeProvider clock, ScriptedEndpoint endpoint, int count)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (endpoint.Count < count)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no POST number {count} in time");
            clock.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(20);
        }
    }

    static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(10);
        }
    }

    static (TlsRptPoster Poster, FakeTimeProvider Clock, StringWriter Log) Poster(ScriptedEndpoint endpoint)
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));
        var log = new StringWriter();
        endpoint.Clock = clock;
        return (new TlsRptPoster(new HttpClient(endpoint), clock, new SmtpdLog(foreground: true, verbose: false, TextWriter.Synchronized(log))), clock, log);
    }

    [Fact]
    public async Task A_failed_post_is_tried_again_after_one_then_four_back_offs_and_the_report_arrives()
    {
        var endpoint = new ScriptedEndpoint(HttpStatusCode.ServiceUnavailable, new HttpRequestException("connection refused"), HttpStatusCode.OK);
        var (poster, clock, log) = Poster(endpoint);
        byte[] report = [0x1f, 0x8b, 1, 2, 3];

        var sending = poster.PostAsync(Rua, "ok.example", report, Backoff, CancellationToken.None);
        await UntilAsync(() => endpoint.Count == 1);
        await AdvanceUntilAsync(clock, endpoint, 2);
        await AdvanceUntilAsync(clock, endpoint, 3);

        Assert.True(await sending.WaitAsync(Bound));
        Assert.Equal(3, endpoint.Count);
        // On the clock: the second try a back-off after the first, the third four back-offs after the second
        // (never sooner; later only by the test's steps).
        var at = endpoint.Posts.Select(p => p.At).ToList();
        Assert.InRange(at[1] - at[0], Backoff, 2 * Backoff);
        Assert.InRange(at[2] - at[1], 4 * Backoff, 5 * Backoff);
        Assert.All(endpoint.Posts, p =>
        {
            Assert.Equal("application/tlsrpt+gzip", p.Type);
            Assert.Equal(report, p.Body);
        });
        // The log is written by its own task: the line comes soon after.
        await UntilAsync(() => log.ToString().Contains("tls-rpt report domain=ok.example to=https://rpt.example/tlsrpt status=200"));
    }

    [Fact]
    public async Task After_three_failed_tries_it_gives_up_and_says_so()
    {
        var endpoint = new ScriptedEndpoint(HttpStatusCode.InternalServerError);
        var (poster, clock, log) = Poster(endpoint);

        var sending = poster.PostAsync(Rua, "bad.example", [1], Backoff, CancellationToken.None);
        await UntilAsync(() => endpoint.Count == 1);
        await AdvanceUntilAsync(clock, endpoint, 2);
        await AdvanceUntilAsync(clock, endpoint, 3);

        Assert.False(await sending.WaitAsync(Bound));
        clock.Advance(TimeSpan.FromDays(1));
        await Task.Delay(100);
        Assert.Equal(TlsRptPoster.Tries, endpoint.Count);
        await UntilAsync(() => log.ToString().Contains("tls-rpt: report for bad.example to https://rpt.example/tlsrpt not sent after 3 tries: HTTP 500"));
    }
}
