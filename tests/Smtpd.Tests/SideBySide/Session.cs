using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.SideBySide;

/// <summary>
/// Runs one SMTP session, a command at a time (OpenSMTPD 6.8 refuses pipelining), and returns
/// every reply: the banner first, then one per step. A step is sent as is plus CRLF unless it
/// already ends with a line break (raw bytes: bare LF, a DATA body). After the server closed,
/// each remaining step's reply is "(closed)".
/// </summary>
public static class Session
{
    public static async Task<List<string>> RunAsync(ISideServer server, IEnumerable<string> steps, string from = "127.0.0.1")
    {
        var replies = new List<string>();
        await using var d = await SmtpDialogue.ConnectAsync(server.Port, from);
        replies.Add(await d.ReadReplyAsync() ?? "(closed)");
        bool closed = false;
        foreach (var step in steps)
        {
            if (closed) { replies.Add("(closed)"); continue; }
            try
            {
                await d.SendAsync(step.EndsWith('\n') ? step : step + "\r\n");
                string? reply = await d.ReadReplyAsync();
                closed = reply is null;
                replies.Add(reply ?? "(closed)");
            }
            catch (IOException) { closed = true; replies.Add("(closed)"); }
        }
        return replies;
    }

    /// <summary>The message id out of "250 2.0.0 MSGID Message accepted for delivery".</summary>
    public static string MessageId(string reply) => reply.Split(' ') is [_, _, var id, ..] ? id : "";

    /// <summary>One message from <paramref name="from"/> to <paramref name="rcpts"/>; returns the reply to the end of DATA (or the first refusal).</summary>
    public static async Task<string> SendAsync(ISideServer server, string from, IEnumerable<string> rcpts, string message, string client = "127.0.0.1")
    {
        var steps = new List<string> { "EHLO client.example", $"MAIL FROM:<{from}>" };
        steps.AddRange(rcpts.Select(r => $"RCPT TO:<{r}>"));
        steps.Add("DATA");
        steps.Add(message.ReplaceLineEndings("\r\n").TrimEnd('\r', '\n') + "\r\n.\r\n");
        steps.Add("QUIT");
        var replies = await RunAsync(server, steps, client);
        var refusal = replies.Skip(1).Take(steps.Count - 2).FirstOrDefault(r => !r.StartsWith('2') && !r.StartsWith('3'));
        return refusal ?? replies[^2];
    }
}
