using System.Net.Http.Headers;
using System.Text;
using Smtpd.Tests.EndToEnd;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.WebAdmin;

/// <summary>
/// An smtpd with <c>admin listen on</c> (credentials admin / s3cret in a file table), relaying to
/// a port nobody listens on, so that what is sent stays in the queue.
/// </summary>
public sealed class AdminSite : IAsyncDisposable
{
    public const string User = "admin", Password = "s3cret";

    public required SmtpdInstance Smtpd { get; init; }
    public required int Port { get; init; }
    public string BaseUrl => $"http://127.0.0.1:{Port}";

    /// <param name="sampleSeconds">SMTPD_ADMIN_SAMPLE_INTERVAL: the graphs' sampling interval.</param>
    /// <param name="sqlite">-B stat=sqlite (SMTPD_STATS): statistics and graphs kept across restarts.</param>
    public static async Task<AdminSite> StartAsync(int sampleSeconds = 60, bool sqlite = false)
    {
        int port = SmtpdInstance.FreePort();
        var smtpd = new SmtpdInstance();
        await CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "admins"), (User, Password));
        smtpd.WriteConfig($$"""
            table admins file:{dir}/admins
            admin listen on 127.0.0.1 port {{port}} auth <admins>
            listen on 127.0.0.1 port {port}
            action "dead" relay host smtp://127.0.0.2:{{SmtpdInstance.FreePort()}}
            match from local for any action "dead"
            """);
        smtpd.Environment["SMTPD_ADMIN_SAMPLE_INTERVAL"] = sampleSeconds.ToString();
        if (sqlite) smtpd.Environment["SMTPD_STATS"] = "sqlite";
        await smtpd.StartAsync();
        return new AdminSite { Smtpd = smtpd, Port = port };
    }

    public HttpClient Client(string? user = User, string? password = Password)
    {
        var client = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        if (user is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return client;
    }

    /// <summary>One message from <paramref name="sender"/> to each recipient.</summary>
    public async Task SendAsync(string sender, params string[] rcpts)
    {
        await using var d = await SmtpDialogue.ConnectAsync(Smtpd.Port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await d.CommandAsync($"MAIL FROM:<{sender}>"));
        foreach (var rcpt in rcpts) Assert.StartsWith("250", await d.CommandAsync($"RCPT TO:<{rcpt}>"));
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync("Subject: admin\r\n\r\nbody\r\n."));
        Assert.StartsWith("221", await d.CommandAsync("QUIT"));
    }

    public ValueTask DisposeAsync() => Smtpd.DisposeAsync();
}
