using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;

namespace Smtpd.Filter;

/// <summary>
/// One running filter process (lka_proc.c / processor_io): its stdin gets config, report and
/// filter lines from one writer loop, so lines never interleave; its stdout is read by one loop
/// that hands each filter-result and filter-dataline to whoever waits for that session and token;
/// its stderr goes to the log. When it exits, or says something outside the protocol, every
/// waiter fails and the instance is dead for good (<see cref="FilterProcess"/> starts another).
/// </summary>
public sealed class FilterProcessInstance
{
    /// <summary>
    /// The protocol we speak: current OpenSMTPD's (7.4 on). It differs from 0.6 (6.7 to 7.3) only in
    /// link-auth, whose result now comes before the user name; the filters Debian packages for
    /// 6.8 run with it unchanged.
    /// </summary>
    public const string ProtocolVersion = "0.7";
    /// <summary>What we announce in <c>config|smtpd-version</c>: an OpenSMTPD that speaks <see cref="ProtocolVersion"/>.</summary>
    public const string SmtpdVersion = "7.6.0";
    const int MaxLine = 1024 * 1024;

    readonly string _name;
    readonly SmtpdLog _log;
    readonly Process _process;
    readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    readonly ConcurrentDictionary<(ulong Session, ulong Token), Channel<byte[]>> _waiters = new();
    readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly HashSet<string> _reports = new(StringComparer.Ordinal);
    readonly HashSet<FilterPhase> _phases = [];
    volatile string? _deathReason;

    FilterProcessInstance(string name, Process process, SmtpdLog log)
    {
        _name = name;
        _process = process;
        _log = log;
    }

    /// <summary>Report events it registered (<c>*</c> means all).</summary>
    public IReadOnlySet<string> Reports => _reports;
    /// <summary>Filter phases it registered.</summary>
    public IReadOnlySet<FilterPhase> Phases => _phases;
    public bool IsDead => _deathReason is not null;
    public Task Exited => _exited.Task;
    public int Pid => _process.Id;

    /// <summary>Starts the command through /bin/sh, sends the configuration and waits for register|ready.</summary>
    /// <exception cref="FilterException">It could not start, or did not register in time.</exception>
    public static async Task<FilterProcessInstance> StartAsync(string name, string command, string admd, SmtpdLog log, TimeSpan timeout, TimeProvider time)
    {
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        Process process;
        try { process = Process.Start(psi) ?? throw new FilterException($"filter {name}: cannot start"); }
        catch (System.ComponentModel.Win32Exception ex) { throw new FilterException($"filter {name}: cannot start: {ex.Message}"); }

        var instance = new FilterProcessInstance(name, process, log);
        instance.Run(admd);
        using var cts = new CancellationTokenSource(timeout, time);
        try { await instance._ready.Task.WaitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            instance.Kill("did not register within the filter timeout");
            throw new FilterException($"filter {name}: no register|ready within {timeout.TotalSeconds:0} s");
        }
        catch (FilterException)
        {
            instance.Kill("failed during registration");
            throw;
        }
        log.Info($"info: filter {name} ready: pid={process.Id} reports={string.Join(",", instance._reports)} filters={string.Join(",", instance._phases.Select(p => p.Name()))}");
        return instance;
    }

    void Run(string admd)
    {
        // lka_proc_config: what the filter may want to know, then config|ready.
        Send($"config|smtpd-version|{SmtpdVersion}");
        Send($"config|smtp-session-timeout|300");
        Send("config|subsystem|smtp-in");
        Send($"config|admd|{admd}");
        Send("config|ready");
        _ = WriteLoopAsync();
        _ = ReadLoopAsync();
        _ = StderrLoopAsync();
        _ = WatchExitAsync();
    }

    /// <summary>Queues one protocol line (without its newline). Lines sent to a dead instance are dropped.</summary>
    public void Send(string line) => Send(Encoding.UTF8.GetBytes(line));

    public void Send(byte[] line)
    {
        if (IsDead) return;
        var bytes = new byte[line.Length + 1];
        line.CopyTo(bytes, 0);
        bytes[^1] = (byte)'\n';
        _outgoing.Writer.TryWrite(bytes);
    }

    /// <summary>
    /// Where the responses for (session, token) go until <see cref="Unsubscribe"/>: each is the
    /// payload after "filter-result|SID|TOKEN|" or "filter-dataline|SID|TOKEN|", prefixed by
    /// 'r' or 'd'. The channel fails with <see cref="FilterException"/> when the process dies.
    /// </summary>
    public ChannelReader<byte[]> Subscribe(ulong session, ulong token)
    {
        var channel = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        _waiters[(session, token)] = channel;
        if (_deathReason is { } reason) channel.Writer.TryComplete(new FilterException($"filter {_name}: {reason}"));
        return channel.Reader;
    }

    /// <summary>
    /// Stops the answers going to <paramref name="reader"/>, and only to it: the data-line stage
    /// ends after the session, which has seen its "." already, may have subscribed the same
    /// session and token for the commit; removing by key alone dropped the commit's answer and
    /// the session waited out the filter timeout (seen under load in bench/milter.sh).
    /// </summary>
    public void Unsubscribe(ulong session, ulong token, ChannelReader<byte[]> reader)
    {
        if (_waiters.TryGetValue((session, token), out var channel) && channel.Reader == reader)
            _waiters.TryRemove(KeyValuePair.Create((session, token), channel));
    }

    /// <summary>Ends the instance (it hung or broke the protocol); waiters fail with the reason.</summary>
    public void Kill(string reason)
    {
        Die(reason);
        try { _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
    }

    void Die(string reason)
    {
        if (Interlocked.CompareExchange(ref _deathReason, reason, null) is not null) return;
        var error = new FilterException($"filter {_name}: {reason}");
        _ready.TrySetException(error);
        _outgoing.Writer.TryComplete();
        foreach (var (key, channel) in _waiters)
        {
            channel.Writer.TryComplete(error);
            _waiters.TryRemove(key, out _);
        }
        _log.Warn($"filter {_name} (pid {_process.Id}): {reason}");
        _exited.TrySetResult();
    }

    async Task WriteLoopAsync()
    {
        var stdin = _process.StandardInput.BaseStream;
        try
        {
            await foreach (var line in _outgoing.Reader.ReadAllAsync())
            {
                await stdin.WriteAsync(line);
                if (!_outgoing.Reader.TryPeek(out _)) await stdin.FlushAsync();
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException) { Die($"cannot write to it: {ex.Message}"); }
    }

    async Task ReadLoopAsync()
    {
        var reader = PipeReader.Create(_process.StandardOutput.BaseStream);
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                while (TryReadLine(ref buffer, out var line))
                    if (!Dispatch(line)) { await reader.CompleteAsync(); return; }
                if (buffer.Length > MaxLine) { Kill("line too long"); break; }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    // Say how it ended when it did end (its status), rather than just "no more output".
                    await Task.WhenAny(_process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(1)));
                    Die(_process.HasExited ? $"exited with status {_process.ExitCode}" : "closed its output");
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException) { Die($"cannot read from it: {ex.Message}"); }
        await reader.CompleteAsync();
    }

    static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out byte[] line)
    {
        var position = buffer.PositionOf((byte)'\n');
        if (position is null) { line = []; return false; }
        var slice = buffer.Slice(0, position.Value);
        line = slice.ToArray();
        if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
        buffer = buffer.Slice(buffer.GetPosition(1, position.Value));
        return true;
    }

    /// <summary>One line from the filter; false (and the instance killed) if it breaks the protocol.</summary>
    bool Dispatch(byte[] raw)
    {
        string text = Encoding.UTF8.GetString(raw);
        if (!_ready.Task.IsCompleted)
        {
            if (text == "register|ready") { _ready.TrySetResult(); return true; }
            if (text.StartsWith("register|report|smtp-in|", StringComparison.Ordinal))
            {
                string ev = text["register|report|smtp-in|".Length..];
                if (ev != "*" && !FilterPhases.ReportEvents.Contains(ev)) return Broken($"registered an unknown report event: {text}");
                _reports.Add(ev);
                return true;
            }
            if (text.StartsWith("register|filter|smtp-in|", StringComparison.Ordinal))
            {
                if (!FilterPhases.TryParse(text["register|filter|smtp-in|".Length..], out var phase)) return Broken($"registered an unknown phase: {text}");
                _phases.Add(phase);
                return true;
            }
            return Broken($"unexpected line before register|ready: {Printable(text)}");
        }

        char kind;
        if (text.StartsWith("filter-result|", StringComparison.Ordinal)) kind = 'r';
        else if (text.StartsWith("filter-dataline|", StringComparison.Ordinal)) kind = 'd';
        else if (text.StartsWith("report|", StringComparison.Ordinal)) return true; // filter-report lines: accepted, not relayed
        else return Broken($"invalid filter message: {Printable(text)}");

        // KIND|SESSIONID|TOKEN|PAYLOAD: ids in hex; the payload may contain '|'.
        int a = text.IndexOf('|');
        int b = text.IndexOf('|', a + 1);
        int c = b < 0 ? -1 : text.IndexOf('|', b + 1);
        if (b < 0 || c < 0
            || !ulong.TryParse(text.AsSpan(a + 1, b - a - 1), System.Globalization.NumberStyles.AllowHexSpecifier, null, out ulong session)
            || !ulong.TryParse(text.AsSpan(b + 1, c - b - 1), System.Globalization.NumberStyles.AllowHexSpecifier, null, out ulong token))
            return Broken($"malformed response: {Printable(text)}");

        // The payload keeps its bytes (a message line need not be UTF-8).
        int prefix = Encoding.UTF8.GetByteCount(text.AsSpan(0, c + 1));
        var payload = new byte[raw.Length - prefix + 1];
        payload[0] = (byte)kind;
        raw.AsSpan(prefix).CopyTo(payload.AsSpan(1));
        // A session may legitimately be gone (it timed out, the client left): drop its answers.
        if (_waiters.TryGetValue((session, token), out var channel)) channel.Writer.TryWrite(payload);
        return true;
    }

    bool Broken(string why)
    {
        Kill(why);
        return false;
    }

    async Task StderrLoopAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
                _log.Warn($"{_name}: {Printable(line)}");
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException) { }
    }

    async Task WatchExitAsync()
    {
        await _process.WaitForExitAsync();
        Die($"exited with status {_process.ExitCode}");
    }

    static string Printable(string s) => s.Length > 200 ? s[..200] + "..." : s;
}

/// <summary>A filter process failed: it could not start, exited, hung, or broke the protocol.</summary>
public sealed class FilterException(string message) : Exception(message);
