using System.Net.Sockets;
using System.Text;

namespace Smtpd;

/// <summary>
/// OpenSMTPD's log: one line per event. In the foreground (<c>-d</c>) lines go to stderr;
/// otherwise to syslog (facility mail) through /dev/log. <c>-v</c> adds debug lines.
/// Thread-safe: every component logs through the same instance.
/// </summary>
public sealed class SmtpdLog : IDisposable
{
    readonly bool _foreground;
    readonly Socket? _syslog;
    readonly object _lock = new();
    readonly TextWriter _stderr;

    public SmtpdLog(bool foreground, bool verbose, TextWriter? stderr = null)
    {
        _foreground = foreground;
        Verbose = verbose;
        _stderr = stderr ?? Console.Error;
        if (!foreground && File.Exists("/dev/log"))
        {
            try
            {
                _syslog = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
                _syslog.Connect(new UnixDomainSocketEndPoint("/dev/log"));
            }
            catch (SocketException) { _syslog = null; }
        }
    }

    /// <summary>Debug lines are written only when verbose (<c>-v</c>, or <c>smtpctl log verbose</c>).</summary>
    public bool Verbose { get; set; }

    public void Info(string line) => Write(6, line);
    public void Warn(string line) => Write(4, "warn: " + line);
    public void Debug(string line) { if (Verbose) Write(7, "debug: " + line); }

    void Write(int severity, string line)
    {
        if (_syslog is not null && !_foreground)
        {
            const int facilityMail = 2;
            var bytes = Encoding.UTF8.GetBytes($"<{facilityMail * 8 + severity}>smtpd[{Environment.ProcessId}]: {line}");
            try { _syslog.Send(bytes); return; } catch (SocketException) { }
        }
        lock (_lock) _stderr.WriteLine(line);
    }

    public void Dispose() => _syslog?.Dispose();
}
