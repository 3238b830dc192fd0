using Smtpd.Table;

namespace Smtpd.Chaos;

/// <summary>A table whose lookups may wait or fail temporarily (the callers answer 451 4.3.0 or retry).</summary>
public sealed class ChaosTable(ITableBackend inner, ChaosMonkey monkey) : ITableBackend, IDisposable
{
    public string Name => inner.Name;

    public void Dispose() => (inner as IDisposable)?.Dispose();

    void Strike()
    {
        string point = "table." + inner.Name;
        monkey.Pause(point);
        if (monkey.Fails(point)) throw new TableTempFailException(inner.Name, "chaos: injected lookup failure");
    }

    public bool Check(TableService service, string key) { Strike(); return inner.Check(service, key); }
    public string? Lookup(TableService service, string key) { Strike(); return inner.Lookup(service, key); }
    public IReadOnlyList<string> Fetch(TableService service) { Strike(); return inner.Fetch(service); }
}
