using System.Net.Sockets;
using System.Text;

namespace Smtpd.Control;

/// <summary>
/// Submits one message to the daemon over the control socket ("enqueue", then SMTP), as
/// OpenSMTPD's enqueue does: used by <c>smtpctl sendmail</c> and by the daemon itself for the
/// messages left in <c>offline/</c> while it was not running.
/// </summary>
public static class LocalSubmission
{
    /// <summary>The daemon is not there (no socket, or nobody listening): keep the mail offline.</summary>
    public sealed class NotRunningException(string message) : Exception(message);

    /// <summary>
    /// Submits; returns the daemon's final reply ("250 2.0.0 ... Message accepted"), or throws.
    /// Blocking: sendmail is a process started for one message, where asynchronous socket calls
    /// would first start the thread pool and the socket engine's thread (about a millisecond of
    /// every submission). The daemon runs it on a thread of its own (<see cref="SubmitAsync"/>).
    /// </summary>
    /// <exception cref="NotRunningException">No daemon listens on <paramref name="socketPath"/>.</exception>
    /// <exception cref="InvalidOperationException">The daemon refused the message (the text says why).</exception>
    public static string Submit(string socketPath, string sender, IReadOnlyList<string> recipients, Stream message, CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { socket.Connect(new UnixDomainSocketEndPoint(socketPath)); }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new NotRunningException($"{socketPath}: {ex.Message}");
        }
        // A daemon that stops answering must not hold sendmail (or the daemon's flush) forever.
        socket.ReceiveTimeout = socket.SendTimeout = (int)ReplyTimeout.TotalMilliseconds;
        using var stream = new NetworkStream(socket, ownsSocket: true);
        using var cancel = ct.Register(socket.Dispose);
        var reader = new StreamReader(stream, Encoding.UTF8);
        string Reply()
        {
            string last = "";
            while (reader.ReadLine() is { } line)
            {
                last = line;
                if (line.Length < 4 || line[3] != '-') return line;
            }
            throw new IOException($"connection closed by smtpd{(last.Length > 0 ? $" after: {last}" : "")}");
        }

        // Two round trips instead of one per command: the daemon's sessions do PIPELINING (RFC 2920),
        // so the request, the banner's answer and every command up to DATA go in one write, and the
        // message with QUIT in a second. A process started for one message mostly waits on these.
        var commands = new StringBuilder(ControlProtocol.Enqueue).Append('\n')
            .Append("EHLO localhost\r\n").Append($"MAIL FROM:<{sender}>\r\n");
        foreach (var r in recipients) commands.Append($"RCPT TO:<{r}>\r\n");
        commands.Append("DATA\r\n");
        try { stream.Write(Encoding.UTF8.GetBytes(commands.ToString())); }
        catch (IOException) { } // a session refused at once closes: its banner, read below, says why

        // Every reply is read, in order; the first refusal is the one to report.
        string? refusal = null;
        string data;
        try
        {
            for (int i = 0; i < 3 + recipients.Count; i++) // banner, EHLO, MAIL, each RCPT
            {
                string reply = Reply();
                if (refusal is null && !reply.StartsWith('2')) refusal = reply;
            }
            data = Reply();
        }
        catch (IOException) when (refusal is not null) { throw new InvalidOperationException(refusal); } // a 421 closes
        if (refusal is not null || data.Length == 0 || data[0] != '3')
        {
            // After a 354 the only way to send nothing is to close: the daemon then drops the message.
            if (data.StartsWith('3')) throw new InvalidOperationException(refusal!);
            try { stream.Write("QUIT\r\n"u8); } catch (IOException) { }
            throw new InvalidOperationException(refusal ?? data);
        }
        Mta.DotStuffing.Copy(message, stream);
        try { stream.Write("QUIT\r\n"u8); } catch (IOException) { }
        string final = Reply();
        if (final.Length == 0 || final[0] != '2') throw new InvalidOperationException(final);
        try { Reply(); } catch (IOException) { }
        return final;
    }

    /// <summary>How long a reply may take; the daemon answers DATA only once the message is on disk.</summary>
    static readonly TimeSpan ReplyTimeout = TimeSpan.FromMinutes(5);

    /// <summary><see cref="Submit"/> on a thread of its own, for the daemon's offline flush: it
    /// blocks on the daemon's own sessions, which must not wait for a thread-pool thread.</summary>
    public static Task<string> SubmitAsync(string socketPath, string sender, IReadOnlyList<string> recipients, Stream message, CancellationToken ct) =>
        Task.Factory.StartNew(() => Submit(socketPath, sender, recipients, message, ct), ct,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
