using System.Net;
using System.Text.Json;
using Smtpd.Tests.Control;

namespace Smtpd.Tests.WebAdmin;

// HTTP client ──Basic auth──▶ admin listener of smtpd, whose queue holds mail for a relay
// nobody answers: no credentials or wrong ones get 401; the API says what smtpctl -j says;
// a POST without the CSRF header is refused, with it the envelope is removed for smtpctl too.
public sealed class AdminHttpTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    static async Task<string> SmtpctlAsync(AdminSite site, params string[] args)
    {
        var (code, output) = await Smtpctl.RunAsync(site.Smtpd, args);
        Assert.True(code == 0, $"smtpctl {string.Join(' ', args)}: exit {code}: {output}");
        return output;
    }

    /// <summary>
    /// smtpctl, the API, smtpctl again, until both smtpctl readings agree (the route penalties and
    /// next tries count seconds) and the API said the same between them; bounded.
    /// </summary>
    static async Task<string> AgreeAsync(Func<Task<string>> smtpctl, Func<Task<string>> api)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            string before = await smtpctl(), fromApi = await api(), after = await smtpctl();
            if (before == after && fromApi == before) return fromApi;
            Assert.True(DateTime.UtcNow < deadline, $"the API never agreed with smtpctl:\n{fromApi}\n---\n{before}");
            await Task.Delay(200);
        }
    }

    /// <summary>Two messages for relays nobody answers, tried once, then paused so the queue holds still.</summary>
    static async Task<AdminSite> StartWithQueueAsync()
    {
        var site = await AdminSite.StartAsync();
        await site.SendAsync("alice@example.org", "bob@far.example");
        await site.SendAsync("dave@example.net", "erin@other.example");
        await site.Smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout, count: 2);
        await SmtpctlAsync(site, "pause", "envelope", "all");
        return site;
    }

    [Fact]
    public async Task After_five_failed_logins_the_address_is_refused_even_with_the_right_password()
    {
        await using var site = await AdminSite.StartAsync();
        for (int i = 0; i < 5; i++)
        {
            using var wrong = site.Client(AdminSite.User, "guess" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/api/stats")).StatusCode);
        }
        using var right = site.Client();
        var reply = await right.GetAsync("/api/stats");
        Assert.Equal((HttpStatusCode)429, reply.StatusCode);
        var wait = reply.Headers.RetryAfter?.Delta;
        Assert.True(wait is { } w && w > TimeSpan.Zero && w <= TimeSpan.FromMinutes(5), $"Retry-After: {reply.Headers.RetryAfter}");
        Assert.DoesNotContain("queue", await reply.Content.ReadAsStringAsync());
        Assert.Contains("admin: authentication failed for user admin from 127.0.0.1", site.Smtpd.Log);
    }

    [Fact]
    public async Task Without_credentials_or_with_wrong_ones_the_answer_is_401_with_a_challenge()
    {
        await using var site = await AdminSite.StartAsync();
        foreach (var (client, path) in new[] { (site.Client(null), "/"), (site.Client(null), "/api/queue"),
            (site.Client("admin", "wrong"), "/"), (site.Client("nobody", AdminSite.Password), "/api/stats") })
        {
            using var _ = client;
            var reply = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, reply.StatusCode);
            Assert.Equal("Basic", Assert.Single(reply.Headers.WwwAuthenticate).Scheme);
            Assert.DoesNotContain("queue", await reply.Content.ReadAsStringAsync());
        }
        using var good = site.Client();
        var page = await good.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        // Another site may not frame the page (to trick a click on "remove").
        Assert.Equal("DENY", Assert.Single(page.Headers.GetValues("X-Frame-Options")));
        Assert.Contains("frame-ancestors 'none'", Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        Assert.Contains("admin: authentication failed for user nobody", site.Smtpd.Log);
    }

    [Fact]
    public async Task The_api_says_what_smtpctl_json_says_and_search_narrows_the_queue()
    {
        await using var site = await StartWithQueueAsync();
        using var client = site.Client();

        // The queue holds still (paused), but what counts seconds may move between two readings.
        string api = await AgreeAsync(() => SmtpctlAsync(site, "show", "queue", "-j"), () => client.GetStringAsync("/api/queue"));
        var lines = api.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);

        var found = (await client.GetStringAsync("/api/queue?q=other.example")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var erin = JsonDocument.Parse(Assert.Single(found)).RootElement;
        Assert.Equal("erin@other.example", erin.GetProperty("rcpt").GetString());
        Assert.Single((await client.GetStringAsync("/api/queue?q=ALICE%40example.org")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty((await client.GetStringAsync("/api/queue?q=nowhere")).Split('\n', StringSplitOptions.RemoveEmptyEntries));

        string id = erin.GetProperty("id").GetString()!;
        await AgreeAsync(() => SmtpctlAsync(site, "show", "envelope", id, "-j"), () => client.GetStringAsync($"/api/envelope/{id}"));
        string routes = await AgreeAsync(() => SmtpctlAsync(site, "show", "routes", "-j"), () => client.GetStringAsync("/api/routes"));
        Assert.Contains("\"address\":\"127.0.0.2\"", routes);
        var stats = JsonDocument.Parse(await client.GetStringAsync("/api/stats")).RootElement;
        Assert.Equal(2, stats.GetProperty("stats").GetProperty("smtp.message").GetInt64());

        // The page shows the same queue, and the envelope's detail its last error.
        string page = await client.GetStringAsync("/?q=other.example");
        Assert.Contains(id, page);
        Assert.Contains("erin@other.example", page);
        Assert.DoesNotContain("bob@far.example", page);
        Assert.Contains("<dd id=\"received\">2</dd>", page);
        string detail = await client.GetStringAsync($"/envelope/{id}");
        Assert.Contains(WebUtility.HtmlEncode(erin.GetProperty("last_error").GetString()!), detail);
    }

    [Fact]
    public async Task A_post_without_the_csrf_header_is_refused_and_with_it_removes_the_envelope()
    {
        await using var site = await StartWithQueueAsync();
        using var client = site.Client();
        var queue = await Smtpctl.QueueAsync(site.Smtpd);
        string bob = queue.Single(l => l[5] == "bob@far.example")[0];

        var refused = await client.PostAsync($"/api/envelope/{bob}/remove", null);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(2, (await Smtpctl.QueueAsync(site.Smtpd)).Length);

        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/envelope/{bob}/remove");
        request.Headers.Add("X-Smtpd-Admin", "1");
        var removed = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        Assert.Equal(1, JsonDocument.Parse(await removed.Content.ReadAsStringAsync()).RootElement.GetProperty("envelopes").GetInt32());
        var left = await Smtpctl.QueueAsync(site.Smtpd);
        Assert.DoesNotContain(left, l => l[0] == bob);
        string erin = Assert.Single(left)[0];
        Assert.Contains("suspend", Assert.Single(left)[3].Split(','));

        // By message id (the envelope id's first 8 digits), as smtpctl takes it: erin's envelope resumes.
        using var resume = new HttpRequestMessage(HttpMethod.Post, $"/api/envelope/{erin[..8]}/resume");
        resume.Headers.Add("X-Smtpd-Admin", "1");
        var resumed = await client.SendAsync(resume);
        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        Assert.Equal(1, JsonDocument.Parse(await resumed.Content.ReadAsStringAsync()).RootElement.GetProperty("envelopes").GetInt32());
        Assert.DoesNotContain("suspend", Assert.Single(await Smtpctl.QueueAsync(site.Smtpd))[3].Split(','));

        using var bad = new HttpRequestMessage(HttpMethod.Post, $"/api/envelope/all/remove");
        bad.Headers.Add("X-Smtpd-Admin", "1");
        Assert.Equal(HttpStatusCode.BadRequest, (await client.SendAsync(bad)).StatusCode);
        Assert.Single(await Smtpctl.QueueAsync(site.Smtpd));
    }
}
