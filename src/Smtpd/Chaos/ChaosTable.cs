using Smtpd.Table;

namespace Smtpd.Chaos;

/// <summary>A table whose lookups may wait or fail temporarily (the callers answer 451 4.3.0 or retry).</summary>
public sealed class ChaosTable(ITableBackend inner, ChaosMonkey monkey) : ITableBackend, IDisposable
{
    public string Name => inner.Name;

    public void Dispose() => (inner as IDisposable)?.Dispose();

    async ValueTask StrikeAsync(CancellationToken ct)
    {
        string point = "table." + inner.Name;
        await monkey.PauseAsync(point, ct);
        if (monkey.Fails(point)) throw new TableTempFailException(inner.Name, "chaos: injected lookup failure");
    }

    public async ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default)
    { await StrikeAsync(ct); return await inner.CheckAsync(service, key, ct); }
    public async ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default)
    { await StrikeAsync(ct); return await inner.LookupAsync(service, key, ct); }
    public async ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default)
    { await StrikeAsync(ct); return await inner.FetchAsync(service, ct); }
}
