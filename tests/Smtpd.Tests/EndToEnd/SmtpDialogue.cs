using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.EndToEnd;

/// <summary>A raw SMTP client for dialogue tests: send exact bytes, read whole replies.</summary>
public sealed class SmtpDialogue : IAsyncDisposable
{
    static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);
    readonly TcpClient _client = new();
    NetworkStream _stream = null!;
    readonly StringBuilder _pending = new();

    public static async Task<SmtpDialogue> ConnectAsync(int port)
    {
        var d = new SmtpDialogue();
        await d._client.ConnectAsync("127.0.0.1", port);
        d._stream = d._client.GetStream();
        return d;
    }

    public async Task SendAsync(string text) => await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Reads one complete (possibly multi-line) reply; returns its lines. Null if the server closed.</summary>
    public async Task<string?> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            string? line = await ReadLineAsync();
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

    async Task<string?> ReadLineAsync()
    {
        var buffer = new byte[1];
        using var cts = new CancellationTokenSource(ReadTimeout);
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
