namespace Smtpd.Tests.SideBySide;

/// <summary>
/// Our smtpd and OpenSMTPD 6.8 started with the same smtpd.conf (only {port} and {dir}
/// differ), once per scenario class; each scenario runs against <see cref="Both"/>.
/// Nothing is started when OpenSMTPD is not available (the tests then skip with the reason).
/// </summary>
public sealed class ServerPair : IAsyncDisposable
{
    public OurServer Ours { get; }
    public OpenSmtpdInstance Theirs { get; }
    public IReadOnlyList<ISideServer> Both => [Ours, Theirs];

    ServerPair(string config)
    {
        Ours = new OurServer(config);
        Theirs = new OpenSmtpdInstance(config);
    }

    /// <summary>Both servers, started side by side; <paramref name="prepare"/> runs first (files the config names, under each server's Dir).</summary>
    public static Task<ServerPair> StartAsync(string config, Action<ISideServer>? prepare = null) =>
        StartAsync(config, s => { prepare?.Invoke(s); return Task.CompletedTask; });

    /// <summary>As above, with a preparation that runs programs (e.g. each server's own makemap).</summary>
    public static async Task<ServerPair> StartAsync(string config, Func<ISideServer, Task> prepare)
    {
        var pair = new ServerPair(config);
        try
        {
            foreach (var s in pair.Both) await prepare(s);
            await Task.WhenAll(pair.Both.Select(s => s.StartAsync()));
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await Theirs.DisposeAsync(); }
        finally { await Ours.DisposeAsync(); }
    }
}
