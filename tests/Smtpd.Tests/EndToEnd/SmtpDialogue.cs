using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.EndToEnd;

/// <summary>A raw SMTP client for dialogue tests: send exact bytes, read whole replies.</summary>
public sealed class SmtpDialogue : IAsyncDisposable
{
    static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);
    TcpClient _client = new();
    Stream _stream = null!;
    readonly StringBuilder _pending = new();

    /// <param name="to">The server's address (a listener may be bound to another loopback address).</param>
    public static async Task<SmtpDialogue> ConnectAsync(int port, string from = "127.0.0.1", string to = "127.0.0.1")
    {
        var d = new SmtpDialogue();
        // Binding another loopback address makes the client look like a stranger (not "from local").
        d._client = new TcpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(from), 0));
        await d._client.ConnectAsync(to, port);
        d._stream = d._client.GetStream();
        return d;
    }

    /// <summary>A dialogue over a connection the test made otherwise (e.g. inside a network namespace).</summary>
    public static SmtpDialogue Over(TcpClient client)
    {
        var d = new SmtpDialogue();
        d._client.Dispose();
        d._client = client;
        d._stream = client.GetStream();
        return d;
    }

    /// <summary>Starts TLS on the connection (after STARTTLS's 220, or at once for smtps); any certificate is accepted.</summary>
    /// <summary>
    /// One transaction from <paramref name="from"/>: returns the RCPT reply, and when it is 250
    /// sends the message (which must then be accepted).
    /// </summary>
    public static async Task<string> TryDeliverAsync(int port, string from, string rcpt, string subject, string body, string extraHeaders = "")
    {
        await using var d = await ConnectAsync(port);
        await d.ReadReplyAsync();
        await d.CommandAsync("EHLO client.example");
        await d.CommandAsync($"MAIL FROM:<{from}>");
        string reply = await d.CommandAsync($"RCPT TO:<{rcpt}>");
        if (!reply.StartsWith("250")) return reply;
        await d.CommandAsync("DATA");
        Assert.StartsWith("250", await d.CommandAsync($"{extraHeaders}Subject: {subject}\r\n\r\n{body}\r\n."));
        return reply;
    }

    public async Task<System.Net.Security.SslStream> StartTlsAsync(string? serverName = null)
    {
        var ssl = new System.Net.Security.SslStream(_stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(serverName ?? "localhost");
        _stream = ssl;
        return ssl;
    }

    public async Task SendAsync(string text) => await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Reads one complete (possibly multi-line) reply; returns its lines. Null if the server closed.</summary>
    /// <param name="timeout">How long each line may take (default 15 s); longer for a client the server keeps waiting on purpose.</param>
    public async Task<string?> ReadReplyAsync(TimeSpan? timeout = null)
    {
        var lines = new List<string>();
        while (true)
        {
            string? line = await ReadLineAsync(timeout ?? ReadTimeout);
            if (line is null) return lines.Count == 0 ? null : string.Join("\n", lines);
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-') return string.Join("\n", lines);
        }
    }

    /// <summary>Sends a command and returns the reply's first three digits and text.</summary>
    public async Task<string> CommandAsync(string command)
    {
        await SendAsync(command + "\r\n");
        return await ReadReplyAsync() ?? "(closed)";
    }

    async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        var buffer = new byte[1];
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            string s = _pending.ToString();
            int nl = s.IndexOf("\r\n", StringComparison.Ordinal);
            if (nl >= 0) { _pending.Remove(0, nl + 2); return s[..nl]; }
            int n = await _stream.ReadAsync(buffer, cts.Token);
            if (n == 0) return null;
            _pending.Append((char)buffer[0]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await Task.CompletedTask;
    }
}
