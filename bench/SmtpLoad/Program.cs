using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

// smtpload: sends M messages of S bytes over N concurrent SMTP sessions, one command at a time
// (no PIPELINING, so that servers without it compare fairly), and prints key=value results.
var options = Options.Parse(args);
var body = MakeMessage(options.Size, options.From, options.Rcpt);
int perSession = options.Messages / options.Sessions, extra = options.Messages % options.Sessions;
int accepted = 0, failed = 0;
var clock = Stopwatch.StartNew();
var sessions = Enumerable.Range(0, options.Sessions).Select(async i =>
{
    int count = perSession + (i < extra ? 1 : 0);
    // Clients arrive a few milliseconds apart, as real ones do (and as OpenSMTPD 6.8 needs: it
    // leaves some of 20 simultaneous connects unaccepted).
    await Task.Delay(i * options.SpacingMs);
    try
    {
        var (ok, bad) = await RunSessionAsync(options, body, count);
        Interlocked.Add(ref accepted, ok);
        Interlocked.Add(ref failed, bad);
    }
    catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or InvalidDataException)
    {
        Console.Error.WriteLine($"session {i}: {ex.Message}");
        Interlocked.Add(ref failed, count);
    }
}).ToArray();
await Task.WhenAll(sessions);
double seconds = clock.Elapsed.TotalSeconds;
Console.WriteLine($"accepted={accepted}");
Console.WriteLine($"failed={failed}");
Console.WriteLine($"seconds={seconds:F3}");
Console.WriteLine($"accepted_per_second={accepted / seconds:F1}");
return failed == 0 ? 0 : 1;

static async Task<(int Ok, int Failed)> RunSessionAsync(Options o, byte[] message, int count)
{
    using var client = new TcpClient { NoDelay = true };
    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
    await client.ConnectAsync(o.Host, o.Port, timeout.Token);
    var stream = client.GetStream();
    var reader = new ReplyReader(stream, timeout.Token);
    await reader.ExpectAsync(220);
    await SendAsync(stream, "EHLO smtpload.example\r\n", timeout.Token);
    await reader.ExpectAsync(250);
    int ok = 0, bad = 0;
    for (int n = 0; n < count; n++)
    {
        await SendAsync(stream, $"MAIL FROM:<{o.From}>\r\n", timeout.Token);
        await reader.ExpectAsync(250);
        await SendAsync(stream, $"RCPT TO:<{o.Rcpt}>\r\n", timeout.Token);
        await reader.ExpectAsync(250);
        await SendAsync(stream, "DATA\r\n", timeout.Token);
        await reader.ExpectAsync(354);
        await stream.WriteAsync(message, timeout.Token);
        if (await reader.ReadCodeAsync() == 250) ok++; else bad++;
    }
    await SendAsync(stream, "QUIT\r\n", timeout.Token);
    await reader.ReadCodeAsync();
    return (ok, bad);
}

static Task SendAsync(NetworkStream s, string line, CancellationToken ct) => s.WriteAsync(Encoding.ASCII.GetBytes(line), ct).AsTask();

static byte[] MakeMessage(int size, string from, string rcpt)
{
    var sb = new StringBuilder();
    sb.Append($"From: <{from}>\r\nTo: <{rcpt}>\r\nSubject: smtpload\r\nMessage-ID: <{Guid.NewGuid()}@smtpload.example>\r\n\r\n");
    var line = new string('x', 76) + "\r\n";
    while (sb.Length + line.Length < size) sb.Append(line);
    sb.Append(".\r\n");
    return Encoding.ASCII.GetBytes(sb.ToString());
}

sealed class ReplyReader(NetworkStream stream, CancellationToken ct)
{
    readonly byte[] _buffer = new byte[4096];
    readonly StringBuilder _pending = new();

    public async Task ExpectAsync(int code)
    {
        int got = await ReadCodeAsync();
        if (got != code) throw new InvalidDataException($"expected {code}, got {got}");
    }

    /// <summary>Reads one whole reply (all its lines) and returns its code.</summary>
    public async Task<int> ReadCodeAsync()
    {
        while (true)
        {
            string text = _pending.ToString();
            int start = 0;
            for (int nl = text.IndexOf("\r\n", StringComparison.Ordinal); nl >= 0; nl = text.IndexOf("\r\n", start, StringComparison.Ordinal))
            {
                string line = text[start..nl];
                start = nl + 2;
                if (line.Length >= 4 && line[3] == '-') continue;
                _pending.Remove(0, start);
                return line.Length >= 3 && int.TryParse(line[..3], out int code) ? code : 0;
            }
            int n = await stream.ReadAsync(_buffer, ct);
            if (n == 0) throw new IOException("connection closed");
            _pending.Append(Encoding.ASCII.GetString(_buffer, 0, n));
        }
    }
}

sealed record Options(string Host, int Port, int Sessions, int Messages, int Size, string From, string Rcpt, int SpacingMs)
{
    public static Options Parse(string[] args)
    {
        var o = new Options("127.0.0.1", 25, 20, 2000, 10 * 1024, "bench@example.org", "root@localhost", 10);
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string v = args[i + 1];
            o = args[i] switch
            {
                "--host" => o with { Host = v },
                "--port" => o with { Port = int.Parse(v) },
                "--sessions" => o with { Sessions = int.Parse(v) },
                "--messages" => o with { Messages = int.Parse(v) },
                "--size" => o with { Size = int.Parse(v) },
                "--from" => o with { From = v },
                "--rcpt" => o with { Rcpt = v },
                "--spacing-ms" => o with { SpacingMs = int.Parse(v) },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        return o;
    }
}
