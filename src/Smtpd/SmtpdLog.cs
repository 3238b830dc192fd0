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
