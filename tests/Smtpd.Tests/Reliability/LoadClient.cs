using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Reliability;

/// <summary>One message to send: its test id (in an X-Test-Id header) and its recipients.</summary>
public sealed record TestMessage(string Id, IReadOnlyList<string> Recipients);

/// <summary>
/// What a load run saw: every reply class counted, and the ids of the messages that got 250
/// at the end of DATA (those must be delivered; the others must not be).
/// </summary>
public sealed class LoadResult
{
    public ConcurrentDictionary<string, bool> Accepted { get; } = new();
    /// <summary>Sent, but the connection died before the reply: accepted or not, nobody knows (not retried).</summary>
    public ConcurrentDictionary<string, bool> InDoubt { get; } = new();
    public int Sent;
    public int TempReplies;
    public int PermReplies;
    public int ConnectFailures;
    public ConcurrentQueue<string> PermReplyTexts { get; } = new();
    public ConcurrentQueue<string> TempReplyTexts { get; } = new();
}

/// <summary>
/// A client that behaves as a well-mannered MTA under load: several sessions at once, several
/// messages per session, and on a 4xx (or a dropped connection) it waits a little and tries
/// the message again, as a real sender's queue would. A 5xx is never retried: it is counted.
/// </summary>
public static class LoadClient
{
    static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);

    public static async Task<LoadResult> SendAsync(int port, IReadOnlyList<TestMessage> messages, int sessions, TimeSpan deadline,
        Func<TestMessage, string>? body = null, LoadResult? into = null)
    {
        var result = into ?? new LoadResult();
        var work = new ConcurrentQueue<TestMessage>(messages);
        using var cts = new CancellationTokenSource(deadline);
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => Task.Run(() => WorkerAsync(port, work, result, body, cts.Token))));
        return result;
    }

    /// <summary>One session, one try of one message (no retry): the replies are counted in <paramref name="result"/>.</summary>
    public static async Task SendOnceAsync(int port, TestMessage message, LoadResult result, Func<TestMessage, string>? body = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, cts.Token);
        var conn = new Connection(client.GetStream());
        await conn.ReadAsync(cts.Token);
        await conn.CommandAsync("EHLO load.test", cts.Token);
        await TransactAsync(conn, message, result, body, cts.Token);
        await conn.TryCommandAsync("QUIT", cts.Token);
    }

    static async Task WorkerAsync(int port, ConcurrentQueue<TestMessage> work, LoadResult result, Func<TestMessage, string>? body, CancellationToken ct)
    {
        int backoff = 10;
        while (!ct.IsCancellationRequested && work.TryDequeue(out var first))
        {
            TestMessage? message = first;
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port, ct);
                var conn = new Connection(client.GetStream());
                if (!(await conn.ReadAsync(ct)).StartsWith('2')) { work.Enqueue(message); backoff = await PauseAsync(backoff, ct); continue; }
                if (!(await conn.CommandAsync("EHLO load.test", ct)).StartsWith('2')) { work.Enqueue(message); backoff = await PauseAsync(backoff, ct); continue; }
                // Several messages per session, as an MTA with connection caching does.
                for (int n = 0; ; n++)
                {
                    var outcome = await TransactAsync(conn, message, result, body, ct);
                    if (outcome == Outcome.Retry) work.Enqueue(message);
                    message = null;
                    if (outcome == Outcome.Retry || n >= 49 || ct.IsCancellationRequested || !work.TryDequeue(out var next)) break;
                    backoff = 10;
                    message = next;
                }
                await conn.TryCommandAsync("QUIT", ct);
            }
            catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
            {
                // A connection refused, reset or cut: the message was not accepted; try it again.
                Interlocked.Increment(ref result.ConnectFailures);
                // Unless the message was sent and the connection died before its reply: then it may
                // or may not have been accepted, and sending it again could duplicate it.
                if (message is not null && !result.InDoubt.ContainsKey(message.Id) && !result.Accepted.ContainsKey(message.Id)) work.Enqueue(message);
                backoff = await PauseAsync(backoff, ct);
            }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Waits <paramref name="backoff"/> ms; returns the next, longer wait (up to a second).</summary>
    static async Task<int> PauseAsync(int backoff, CancellationToken ct)
    {
        try { await Task.Delay(backoff, ct); } catch (OperationCanceledException) { }
        return Math.Min(backoff * 2, 1000);
    }

    enum Outcome { Done, Retry }

    static async Task<Outcome> TransactAsync(Connection conn, TestMessage m, LoadResult result, Func<TestMessage, string>? body, CancellationToken ct)
    {
        string Classify(string reply)
        {
            if (reply.StartsWith('4')) { Interlocked.Increment(ref result.TempReplies); result.TempReplyTexts.Enqueue(reply); }
            else if (reply.StartsWith('5')) { Interlocked.Increment(ref result.PermReplies); result.PermReplyTexts.Enqueue(reply); }
            return reply;
        }

        string r = Classify(await conn.CommandAsync("MAIL FROM:<load@client.test>", ct));
        if (r.StartsWith('5')) return Outcome.Done;
        if (!r.StartsWith('2')) { await conn.TryCommandAsync("RSET", ct); return Outcome.Retry; }
        foreach (var rcpt in m.Recipients)
        {
            r = Classify(await conn.CommandAsync($"RCPT TO:<{rcpt}>", ct));
            if (r.StartsWith('5')) { await conn.TryCommandAsync("RSET", ct); return Outcome.Done; }
            if (!r.StartsWith('2')) { await conn.TryCommandAsync("RSET", ct); return Outcome.Retry; }
        }
        r = Classify(await conn.CommandAsync("DATA", ct));
        if (r.StartsWith('5')) { await conn.TryCommandAsync("RSET", ct); return Outcome.Done; }
        if (!r.StartsWith('3')) { await conn.TryCommandAsync("RSET", ct); return Outcome.Retry; }
        Interlocked.Increment(ref result.Sent);
        string text = $"X-Test-Id: {m.Id}\r\nMessage-ID: <{m.Id}@load.test>\r\nSubject: load {m.Id}\r\n\r\n{body?.Invoke(m) ?? "body of " + m.Id}\r\n.";
        result.InDoubt[m.Id] = true;
        r = Classify(await conn.CommandAsync(text, ct));
        result.InDoubt.TryRemove(m.Id, out _);
        if (r.StartsWith('2')) { result.Accepted[m.Id] = true; return Outcome.Done; }
        return r.StartsWith('5') ? Outcome.Done : Outcome.Retry;
    }

    /// <summary>A buffered line reader over the socket (the tests' SmtpDialogue reads a byte at a time, too slow for load).</summary>
    sealed class Connection(NetworkStream stream)
    {
        readonly byte[] _buffer = new byte[8192];
        int _start, _end;

        public async Task<string> CommandAsync(string command, CancellationToken ct)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\r\n"), ct);
            return await ReadAsync(ct);
        }

        public async Task TryCommandAsync(string command, CancellationToken ct)
        {
            try { await CommandAsync(command, ct); }
            catch (Exception ex) when (ex is IOException or SocketException or TimeoutException) { }
        }

        /// <summary>A whole reply (multi-line ones joined by \n).</summary>
        public async Task<string> ReadAsync(CancellationToken ct)
        {
            var lines = new StringBuilder();
            while (true)
            {
                string line = await ReadLineAsync(ct);
                lines.Append(line);
                if (line.Length < 4 || line[3] != '-') return lines.ToString();
                lines.Append('\n');
            }
        }

        async Task<string> ReadLineAsync(CancellationToken ct)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ReplyTimeout);
            while (true)
            {
                int nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (nl >= 0)
                {
                    string line = Encoding.UTF8.GetString(_buffer, _start, nl - _start).TrimEnd('\r');
                    _start = nl + 1;
                    return line;
                }
                if (_start > 0) { Array.Copy(_buffer, _start, _buffer, 0, _end - _start); _end -= _start; _start = 0; }
                if (_end == _buffer.Length) throw new IOException("reply line too long");
                int n;
                try { n = await stream.ReadAsync(_buffer.AsMemory(_end), timeout.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new TimeoutException("no reply"); }
                if (n == 0) throw new IOException("connection closed");
                _end += n;
            }
        }
    }
}
