using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

// smtpload: sends M messages of S bytes over N concurrent SMTP sessions and prints key=value
// results. By default one command at a time (servers without PIPELINING compare fairly);
// --pipelining sends MAIL, RCPT and DATA in one write (RFC 2920), when the server offers it.
// Each message carries an "X-Bench-Id: N" header; --latency-log FILE writes "N UNIX_NS" per
// message, the wall-clock time just before its MAIL FROM was sent, so that the bench can match
// each delivered file to its send time.
var options = Options.Parse(args);
var body = MakeBody(options.Size, options.From, options.Rcpt);
int perSession = options.Messages / options.Sessions, extra = options.Messages % options.Sessions;
int accepted = 0, failed = 0, nextId = 0;
var sentAt = new long[options.Messages];
long firstConnect = 0;
var clock = Stopwatch.StartNew();
var sessions = Enumerable.Range(0, options.Sessions).Select(async i =>
{
    int count = perSession + (i < extra ? 1 : 0);
    // Clients arrive a few milliseconds apart, as real ones do (and as OpenSMTPD 6.8 needs: it
    // leaves some of 20 simultaneous connects unaccepted).
    await Task.Delay(i * options.SpacingMs);
    try
    {
        var (ok, bad) = await RunSessionAsync(options, body, count, () =>
        {
            Interlocked.CompareExchange(ref firstConnect, UnixNs(), 0);
        }, () =>
        {
            int id = Interlocked.Increment(ref nextId) - 1;
            sentAt[id] = UnixNs();
            return id;
        });
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
Console.WriteLine($"first_connect_unix_ns={firstConnect}");
if (options.LatencyLog is { } log)
    File.WriteAllLines(log, Enumerable.Range(0, Math.Min(nextId, sentAt.Length)).Select(i => $"{i} {sentAt[i]}"));
return failed == 0 ? 0 : 1;

// Wall-clock nanoseconds, comparable with the delivered files' ctime.
static long UnixNs() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

static async Task<(int Ok, int Failed)> RunSessionAsync(Options o, byte[] body, int count, Action connecting, Func<int> nextMessage)
{
    using var client = new TcpClient { NoDelay = true };
    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
    connecting();
    await client.ConnectAsync(o.Host, o.Port, timeout.Token);
    var stream = client.GetStream();
    var reader = new ReplyReader(stream, timeout.Token);
    await reader.ExpectAsync(220);
    await SendAsync(stream, "EHLO smtpload.example\r\n", timeout.Token);
    var ehlo = await reader.ReadReplyAsync();
    if (ehlo.Code != 250) throw new InvalidDataException($"expected 250 to EHLO, got {ehlo.Code}");
    bool pipelining = o.Pipelining && ehlo.Lines.Any(l => l.Length > 4 && l[4..].StartsWith("PIPELINING", StringComparison.OrdinalIgnoreCase));
    if (o.Pipelining && !pipelining) throw new InvalidDataException("the server does not offer PIPELINING");
    int ok = 0, bad = 0;
    for (int n = 0; n < count; n++)
    {
        int id = nextMessage();
        string mail = $"MAIL FROM:<{o.From}>\r\n", rcpt = $"RCPT TO:<{o.Rcpt}>\r\n", data = "DATA\r\n";
        if (pipelining)
        {
            // RFC 2920 section 3.1: DATA ends the group; the message waits for its 354.
            await SendAsync(stream, mail + rcpt + data, timeout.Token);
            await reader.ExpectAsync(250);
            await reader.ExpectAsync(250);
            await reader.ExpectAsync(354);
        }
        else
        {
            await SendAsync(stream, mail, timeout.Token);
            await reader.ExpectAsync(250);
            await SendAsync(stream, rcpt, timeout.Token);
            await reader.ExpectAsync(250);
            await SendAsync(stream, data, timeout.Token);
            await reader.ExpectAsync(354);
        }
        await SendAsync(stream, $"X-Bench-Id: {id}\r\n", timeout.Token);
        await stream.WriteAsync(body, timeout.Token);
        if (await reader.ReadCodeAsync() == 250) ok++; else bad++;
    }
    await SendAsync(stream, "QUIT\r\n", timeout.Token);
    await reader.ReadCodeAsync();
    return (ok, bad);
}

static Task SendAsync(NetworkStream s, string line, CancellationToken ct) => s.WriteAsync(Encoding.ASCII.GetBytes(line), ct).AsTask();

// The message after its X-Bench-Id line: the same headers, body and final dot for every message.
static byte[] MakeBody(int size, string from, string rcpt)
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

    public async Task<int> ReadCodeAsync() => (await ReadReplyAsync()).Code;

    /// <summary>Reads one whole reply (all its lines).</summary>
    public async Task<(int Code, List<string> Lines)> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            string text = _pending.ToString();
            int start = 0;
            lines.Clear();  // the partial reply is scanned again from its start
            for (int nl = text.IndexOf("\r\n", StringComparison.Ordinal); nl >= 0; nl = text.IndexOf("\r\n", start, StringComparison.Ordinal))
            {
                string line = text[start..nl];
                start = nl + 2;
                lines.Add(line);
                if (line.Length >= 4 && line[3] == '-') continue;
                _pending.Remove(0, start);
                return (line.Length >= 3 && int.TryParse(line[..3], out int code) ? code : 0, lines);
            }
            int n = await stream.ReadAsync(_buffer, ct);
            if (n == 0) throw new IOException("connection closed");
            _pending.Append(Encoding.ASCII.GetString(_buffer, 0, n));
        }
    }
}

sealed record Options(string Host, int Port, int Sessions, int Messages, int Size, string From, string Rcpt, int SpacingMs,
    bool Pipelining = false, string? LatencyLog = null)
{
    public static Options Parse(string[] args)
    {
        var o = new Options("127.0.0.1", 25, 20, 2000, 10 * 1024, "bench@example.org", "root@localhost", 10);
        for (int i = 0; i < args.Length; i += 2)
        {
            if (args[i] == "--pipelining") { o = o with { Pipelining = true }; i--; continue; }
            if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} wants a value");
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
                "--latency-log" => o with { LatencyLog = v },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        return o;
    }
}
