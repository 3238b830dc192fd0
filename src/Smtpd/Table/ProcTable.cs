using System.Diagnostics;
using System.Globalization;

namespace Smtpd.Table;

/// <summary>
/// An external table program speaking OpenSMTPD's table protocol, version 0.1 (table_proc.c):
/// smtpd sends <c>config|…</c> lines and <c>config|ready</c>; the program registers its services
/// and <c>register|ready</c>; each request is <c>table|0.1|TIME|NAME|lookup|SERVICE|ID|KEY</c>
/// (also check, fetch, update) and the answer <c>lookup-result|ID|found|VALUE</c>, <c>not-found</c>
/// or <c>error|…</c>. One request at a time; a program that dies or hangs makes lookups fail
/// temporarily and is started again on the next one.
/// </summary>
public sealed class ProcTable(string name, string command) : ITableBackend, IDisposable
{
    const string Version = "0.1";
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    readonly object _lock = new();
    Process? _process;
    HashSet<string> _services = [];
    long _nextId;

    public ValueTask<bool> CheckAsync(TableService service, string key, CancellationToken ct = default) => new(Check(service, key));
    public ValueTask<string?> LookupAsync(TableService service, string key, CancellationToken ct = default) => new(Lookup(service, key));
    public ValueTask<IReadOnlyList<string>> FetchAsync(TableService service, CancellationToken ct = default) => new(Fetch(service));

    public string Name => name;

    bool Check(TableService service, string key) => Ask("check", service, key) is not null;
    string? Lookup(TableService service, string key) => Ask("lookup", service, key);
    IReadOnlyList<string> Fetch(TableService service)
    {
        // fetch hands out one entry per call, going round: collect until the first comes back.
        var all = new List<string>();
        for (int i = 0; i < 10_000 && Ask("fetch", service, null) is { } v; i++)
        {
            if (all.Count > 0 && v == all[0]) break;
            all.Add(v);
        }
        return all;
    }

    string? Ask(string request, TableService service, string? key)
    {
        if (key is not null && key.IndexOfAny(['\r', '\n']) >= 0) return null;
        lock (_lock)
        {
            var p = Running();
            string svc = TableServiceNames.Of(service);
            if (!_services.Contains(svc)) return null;
            string id = (++_nextId).ToString("x", CultureInfo.InvariantCulture);
            string time = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000000", CultureInfo.InvariantCulture);
            Send(p, $"table|{Version}|{time}|{name}|{request}|{svc}|{id}" + (key is null ? "" : $"|{key}"));
            string line = Receive(p);
            string prefix = $"{request}-result|{id}|";
            if (!line.StartsWith(prefix, StringComparison.Ordinal)) { Kill(); throw new TableTempFailException(name, $"bad reply: {line}"); }
            string r = line[prefix.Length..];
            if (r == "not-found") return null;
            if (r.StartsWith("error", StringComparison.Ordinal)) throw new TableTempFailException(name, r.Length > 6 ? r[6..] : "error");
            if (request == "check" && r == "found") return "";
            if (r.StartsWith("found|", StringComparison.Ordinal) && r.Length > 6) return r[6..];
            Kill();
            throw new TableTempFailException(name, $"bad reply: {line}");
        }
    }

    Process Running()
    {
        if (_process is { HasExited: false }) return _process;
        Kill();
        string[] words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var psi = new ProcessStartInfo(words[0]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        foreach (var a in words.Skip(1)) psi.ArgumentList.Add(a);
        try { _process = Process.Start(psi)!; }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException)
        {
            throw new TableTempFailException(name, $"cannot start {words[0]}: {ex.Message}");
        }
        _process.StandardInput.NewLine = "\n";
        Send(_process, "config|smtpd-version|7.6.0 (smtpd for .NET)");
        Send(_process, $"config|protocol|{Version}");
        Send(_process, $"config|tablename|{name}");
        Send(_process, "config|ready");
        var services = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            string line = Receive(_process);
            if (!line.StartsWith("register|", StringComparison.Ordinal)) { Kill(); throw new TableTempFailException(name, $"bad handshake: {line}"); }
            string what = line[9..];
            if (what == "ready") break;
            services.Add(what);
        }
        _services = services;
        return _process;
    }

    void Send(Process p, string line)
    {
        try { p.StandardInput.WriteLine(line); p.StandardInput.Flush(); }
        catch (IOException ex) { Kill(); throw new TableTempFailException(name, $"table program: {ex.Message}"); }
    }

    string Receive(Process p)
    {
        var read = p.StandardOutput.ReadLineAsync();
        if (!read.Wait(Timeout)) { Kill(); throw new TableTempFailException(name, "table program did not answer in time"); }
        return read.Result ?? throw Failed("table program exited");
    }

    TableTempFailException Failed(string why) { Kill(); return new TableTempFailException(name, why); }

    void Kill()
    {
        try { if (_process is { HasExited: false }) _process.Kill(); } catch (InvalidOperationException) { }
        _process?.Dispose();
        _process = null;
    }

    public void Dispose() { lock (_lock) Kill(); }
}
