using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace Smtpd;

/// <summary>
/// OpenSMTPD's log: one line per event. In the foreground (<c>-d</c>) lines go to stderr;
/// otherwise to syslog (facility mail) through /dev/log. <c>-v</c> adds debug lines.
/// Logging never blocks the caller: lines are queued and written, in order, by one writer,
/// which flushes whenever the queue runs empty. Thread-safe.
/// </summary>
public sealed class SmtpdLog : IDisposable
{
    readonly bool _foreground;
    readonly Socket? _syslog;
    readonly TextWriter _stderr;
    readonly Channel<(int Severity, string Line)> _queue =
        Channel.CreateUnbounded<(int, string)>(new UnboundedChannelOptions { SingleReader = true });
    readonly Task _writer;

    public SmtpdLog(bool foreground, bool verbose, TextWriter? stderr = null)
    {
        _foreground = foreground;
        Verbose = verbose;
        _stderr = stderr ?? new StreamWriter(Console.OpenStandardError(), new UTF8Encoding(false), 64 * 1024) { AutoFlush = false };
        if (!foreground && File.Exists("/dev/log"))
        {
            try
            {
                _syslog = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
                _syslog.Connect(new UnixDomainSocketEndPoint("/dev/log"));
            }
            catch (SocketException) { _syslog = null; }
        }
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Debug lines are written only when verbose (<c>-v</c>, or <c>smtpctl log verbose</c>).</summary>
    public bool Verbose { get; set; }

    public void Info(string line) => _queue.Writer.TryWrite((6, line));
    public void Warn(string line) => _queue.Writer.TryWrite((4, "warn: " + line));
    public void Debug(string line) { if (Verbose) _queue.Writer.TryWrite((7, "debug: " + line)); }

    /// <summary>The subsystems OpenSMTPD can trace (<c>smtpctl trace NAME</c>); "all" is every one.</summary>
    public static readonly IReadOnlySet<string> Subsystems = new HashSet<string>(StringComparer.Ordinal)
    {
        "imsg", "io", "smtp", "filters", "transfer", "bounce", "scheduler", "expand", "lookup", "stat", "rules", "mproc", "all",
    };

    readonly HashSet<string> _traced = new(StringComparer.Ordinal);
    volatile bool _anyTraced;

    /// <summary>Turns tracing of a subsystem on or off at runtime, with or without -v (seed 003).</summary>
    public void SetTrace(string subsystem, bool on)
    {
        lock (_traced)
        {
            if (on) _traced.Add(subsystem); else _traced.Remove(subsystem);
            _anyTraced = _traced.Count > 0;
        }
    }

    public bool IsTraced(string subsystem)
    {
        if (!_anyTraced) return false;
        lock (_traced) return _traced.Contains(subsystem) || _traced.Contains("all");
    }

    /// <summary>A trace line for <paramref name="subsystem"/>; the text is built only when traced.</summary>
    public void Trace(string subsystem, Func<string> line)
    {
        if (IsTraced(subsystem)) _queue.Writer.TryWrite((7, $"trace: {subsystem}: {line()}"));
    }

    async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var entry)) Write(entry.Severity, entry.Line);
            try { _stderr.Flush(); } catch (IOException) { }
        }
    }

    void Write(int severity, string line)
    {
        if (_syslog is not null)
        {
            const int facilityMail = 2;
            var bytes = Encoding.UTF8.GetBytes($"<{facilityMail * 8 + severity}>smtpd[{Environment.ProcessId}]: {line}");
            try { _syslog.Send(bytes); return; } catch (SocketException) { }
        }
        try { _stderr.WriteLine(line); } catch (IOException) { }
    }

    /// <summary>Writes out every queued line, then closes.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _writer.Wait(TimeSpan.FromSeconds(5));
        _syslog?.Dispose();
    }
}
