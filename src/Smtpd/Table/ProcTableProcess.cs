using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

namespace Smtpd.Table;

/// <summary>
/// One running table program of a <see cref="ProcTable"/>: requests are written one line each
/// by a single writer loop and may be many at once (each carries its id, as table_proc.c's do);
/// a single reader loop hands each answer to the request with the same id. Nothing waits with
/// a lock held. Once the program has exited, or was killed for not answering, every request
/// still waiting fails temporarily and the table starts a new program on its next lookup.
/// </summary>
sealed class ProcTableProcess : IDisposable
{
    public const string Version = "0.1";

    readonly string _table;
    readonly Process _process;
    readonly ConcurrentDictionary<string, TaskCompletionSource<string>> _pending = new(StringComparer.Ordinal);
    readonly Channel<string> _requests = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    long _nextId;
    volatile string? _gone;

    ProcTableProcess(string table, Process process, IReadOnlySet<string> services)
    {
        _table = table;
        _process = process;
        Services = services;
    }

    /// <summary>The services the program registered (<c>register|SERVICE</c>).</summary>
    public IReadOnlySet<string> Services { get; }

    /// <summary>Why this program serves no more requests, or null while it does.</summary>
    public string? Gone => _gone;

    /// <summary>Starts the program and goes through the handshake, all within <paramref name="timeout"/>.</summary>
    public static async Task<ProcTableProcess> StartAsync(string table, string command, TimeSpan timeout)
    {
        string[] words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var psi = new ProcessStartInfo(words[0]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        foreach (var a in words.Skip(1)) psi.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(psi)!; }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException)
        {
            throw new TableTempFailException(table, $"cannot start {words[0]}: {ex.Message}");
        }
        try
        {
            using var deadline = new CancellationTokenSource(timeout);
            var input = process.StandardInput;
            input.NewLine = "\n";
            foreach (string line in new[] { "config|smtpd-version|7.6.0 (smtpd for .NET)", $"config|protocol|{Version}", $"config|tablename|{table}", "config|ready" })
                await input.WriteLineAsync(line.AsMemory(), deadline.Token);
            await input.FlushAsync(deadline.Token);
            var services = new HashSet<string>(StringComparer.Ordinal);
            while (true)
            {
                string line = await process.StandardOutput.ReadLineAsync(deadline.Token) ?? throw new TableTempFailException(table, "table program exited");
                if (!line.StartsWith("register|", StringComparison.Ordinal)) throw new TableTempFailException(table, $"bad handshake: {line}");
                string what = line[9..];
                if (what == "ready") break;
                services.Add(what);
            }
            var running = new ProcTableProcess(table, process, services);
            _ = running.WriteLoopAsync();
            _ = running.ReadLoopAsync();
            return running;
        }
        catch (Exception ex)
        {
            Kill(process);
            process.Dispose();
            throw ex switch
            {
                TableTempFailException t => t,
                OperationCanceledException => new TableTempFailException(table, "table program did not answer in time"),
                _ => new TableTempFailException(table, $"table program: {ex.Message}"),
            };
        }
    }

    /// <summary>
    /// Sends one request and returns the program's whole answer line (<c>REQUEST-result|ID|…</c>).
    /// No answer within <paramref name="timeout"/>: the program is taken for hung and killed.
    /// </summary>
    public async Task<string> AskAsync(string request, string service, string? key, TimeSpan timeout, CancellationToken ct)
    {
        string id = Interlocked.Increment(ref _nextId).ToString("x", CultureInfo.InvariantCulture);
        var answer = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        try
        {
            if (_gone is { } gone) throw new TableTempFailException(_table, gone);
            // Wall-clock time by format: the table protocol's timestamp is the Unix time of the request.
            string time = (TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0).ToString("0.000000", CultureInfo.InvariantCulture);
            _requests.Writer.TryWrite($"table|{Version}|{time}|{_table}|{request}|{service}|{id}" + (key is null ? "" : $"|{key}"));
            try { return await answer.Task.WaitAsync(timeout, ct); }
            catch (TimeoutException)
            {
                Stop("table program did not answer in time");
                throw new TableTempFailException(_table, "table program did not answer in time");
            }
        }
        finally { _pending.TryRemove(id, out _); }
    }

    async Task WriteLoopAsync()
    {
        try
        {
            var input = _process.StandardInput;
            await foreach (string line in _requests.Reader.ReadAllAsync())
            {
                await input.WriteLineAsync(line);
                // Write every queued request before one flush: a burst of lookups is one write.
                if (!_requests.Reader.TryPeek(out _)) await input.FlushAsync();
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            Stop($"table program: {ex.Message}");
        }
    }

    async Task ReadLoopAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                // "REQUEST-result|ID|…": the id is the second field.
                int first = line.IndexOf('|');
                int second = first < 0 ? -1 : line.IndexOf('|', first + 1);
                string? id = second < 0 ? null : line[(first + 1)..second];
                if (id is null || !_pending.TryRemove(id, out var waiting))
                {
                    // An answer to nothing we asked (or to a request that gave up): the program is confused.
                    Stop($"bad reply: {line}");
                    return;
                }
                waiting.TrySetResult(line);
            }
            Stop("table program exited");
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            Stop($"table program: {ex.Message}");
        }
    }

    /// <summary>Serves no more: kills the program and fails every request still waiting.</summary>
    public void Stop(string why)
    {
        if (Interlocked.CompareExchange(ref _gone, why, null) is not null) return;
        _requests.Writer.TryComplete();
        Kill(_process);
        foreach (var id in _pending.Keys)
            if (_pending.TryRemove(id, out var waiting)) waiting.TrySetException(new TableTempFailException(_table, why));
    }

    static void Kill(Process process)
    {
        try { if (!process.HasExited) process.Kill(); } catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Stop("table closed");
        _process.Dispose();
    }
}
