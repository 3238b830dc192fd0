using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Metrics;

// `smtpd -n`: the metrics have no authentication, so a non-loopback address needs the word `public`.
public sealed class MetricsConfigCheckTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-metrics-conf-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    async Task<(int Code, string Stdout, string Stderr, string Path)> CheckAsync(string metricsLine)
    {
        string path = Path.Combine(_dir, "smtpd.conf");
        File.WriteAllText(path, $"""
            listen on 127.0.0.1 port 2525
            action "local" maildir
            {metricsLine}
            match from any for local action "local"
            """);
        var (code, stdout, stderr) = await SmtpdInstance.RunAsync("-n", "-f", path);
        return (code, stdout, stderr, path);
    }

    [Fact]
    public async Task Loopback_is_accepted()
    {
        var (code, stdout, stderr, _) = await CheckAsync("metrics listen on 127.0.0.1 port 9154");
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
    }

    [Fact]
    public async Task Any_address_without_public_is_refused_at_its_line_and_accepted_with_it()
    {
        var (code, _, stderr, path) = await CheckAsync("metrics listen on 0.0.0.0 port 9154");
        Assert.Equal(1, code);
        Assert.Contains($"{path}:3: metrics listen on 0.0.0.0: not a loopback address", stderr);

        (code, var stdout, stderr, _) = await CheckAsync("metrics listen on 0.0.0.0 port 9154 public");
        Assert.True(code == 0, stderr);
        Assert.Equal("configuration OK", stdout.Trim());
    }

    [Fact]
    public async Task An_unknown_word_after_it_is_refused_at_its_line()
    {
        var (code, _, stderr, path) = await CheckAsync("metrics listen on 127.0.0.1 port 9154 secure");
        Assert.Equal(1, code);
        Assert.Contains($"{path}:3:", stderr);
        Assert.Contains("secure", stderr);
    }
}
