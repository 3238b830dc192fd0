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
        async Task Send(string line) => await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n"), ct);
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
        async Task Expect(string command, char code)
        {
            if (command.Length > 0) await Send(command);
            string reply = await Reply();
            if (reply.Length == 0 || reply[0] != code) throw new InvalidOperationException(reply);
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(ControlProtocol.Enqueue + "\n"), ct);
        await Expect("", '2');
        await Expect("EHLO localhost", '2');
        await Expect($"MAIL FROM:<{sender}>", '2');
        foreach (var r in recipients) await Expect($"RCPT TO:<{r}>", '2');
        await Expect("DATA", '3');
        await Mta.DotStuffing.CopyAsync(message, stream, ct);
        string final = await Reply();
        if (final.Length == 0 || final[0] != '2') throw new InvalidOperationException(final);
        try { await Send("QUIT"); await Reply(); } catch (IOException) { }
        return final;
    }
}
