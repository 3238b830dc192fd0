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

    /// <summary>Submits; returns the daemon's final reply ("250 2.0.0 ... Message accepted"), or throws.</summary>
    /// <exception cref="NotRunningException">No daemon listens on <paramref name="socketPath"/>.</exception>
    /// <exception cref="InvalidOperationException">The daemon refused the message (the text says why).</exception>
    public static async Task<string> SubmitAsync(string socketPath, string sender, IReadOnlyList<string> recipients, Stream message, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct); }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new NotRunningException($"{socketPath}: {ex.Message}");
        }
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = new StreamReader(stream, Encoding.UTF8);
        async Task<string> Reply()
        {
            string last = "";
            while (await reader.ReadLineAsync(ct) is { } line)
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
        try { await stream.WriteAsync(Encoding.UTF8.GetBytes(commands.ToString()), ct); }
        catch (IOException) { } // a session refused at once closes: its banner, read below, says why

        // Every reply is read, in order; the first refusal is the one to report.
        string? refusal = null;
        string data;
        try
        {
            for (int i = 0; i < 3 + recipients.Count; i++) // banner, EHLO, MAIL, each RCPT
            {
                string reply = await Reply();
                if (refusal is null && !reply.StartsWith('2')) refusal = reply;
            }
            data = await Reply();
        }
        catch (IOException) when (refusal is not null) { throw new InvalidOperationException(refusal); } // a 421 closes
        if (refusal is not null || data.Length == 0 || data[0] != '3')
        {
            // After a 354 the only way to send nothing is to close: the daemon then drops the message.
            if (data.StartsWith('3')) throw new InvalidOperationException(refusal!);
            try { await stream.WriteAsync("QUIT\r\n"u8.ToArray(), ct); } catch (IOException) { }
            throw new InvalidOperationException(refusal ?? data);
        }
        await Mta.DotStuffing.CopyAsync(message, stream, ct);
        try { await stream.WriteAsync("QUIT\r\n"u8.ToArray(), ct); } catch (IOException) { }
        string final = await Reply();
        if (final.Length == 0 || final[0] != '2') throw new InvalidOperationException(final);
        try { await Reply(); } catch (IOException) { }
        return final;
    }
}
