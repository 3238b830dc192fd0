using System.Net.Sockets;
using System.Text;
using Smtpd.Stats;

namespace Smtpd.Control;

/// <summary>
/// The control socket (OpenSMTPD's control.c): a unix socket anyone may connect to; what a
/// client may do depends on who the kernel says it is. One request per connection.
/// </summary>
public sealed class ControlServer(string path, ControlContext ctx, Func<Stream, string?, CancellationToken, Task> enqueue) : IDisposable
{
    static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    readonly ControlCommands _commands = new(ctx);
    Socket? _listen;

    public void Bind()
    {
        // We hold the spool lock: a socket file left here is a dead daemon's.
        if (File.Exists(path)) File.Delete(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _listen = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listen.Bind(new UnixDomainSocketEndPoint(path));
        _listen.Listen(64);
        File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110); // everyone connects; SO_PEERCRED decides
    }

    public async Task RunAsync(CancellationToken ct)
    {
        if (_listen is null) return;
        var sessions = new List<Task>();
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                await ctx.Descriptors.WaitForRoomAsync("control", ctx.Log, ct);
                client = await _listen.AcceptAsync(ct);
                ctx.Descriptors.Accepted();
            }
            catch (OperationCanceledException) { break; }
            catch (SocketException ex)
            {
                ctx.Log.Warn($"control: accept: {ex.Message}");
                try { await Task.Delay(TimeSpan.FromMilliseconds(100), ctx.Time, ct); } catch (OperationCanceledException) { break; }
                continue;
            }
            sessions.RemoveAll(t => t.IsCompleted);
            sessions.Add(HandleAsync(client, ct));
        }
        await Task.WhenAny(Task.WhenAll(sessions), Task.Delay(TimeSpan.FromSeconds(5), ctx.Time));
    }

    async Task HandleAsync(Socket client, CancellationToken ct)
    {
        await Task.Yield();
        ctx.Bus.Stats.Increment(StatKeys.ControlSession);
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            uint? uid = PeerCredentials.Uid(client);
            bool privileged = LocalSender.IsTrusted(uid);
            string? request = await ReadRequestAsync(stream, ctx.Time, ct);
            if (request is null) return;
            string[] words = request.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            ctx.Log.Debug($"control: uid={uid} request=\"{request}\"");

            if (words is [ControlProtocol.Enqueue])
            {
                // The kernel's word on who this is decides whether MAIL FROM is theirs to choose.
                await enqueue(stream, LocalSender.BoundSender(uid), ct);
                return;
            }
            var output = new StreamWriter(stream, new UTF8Encoding(false), 16 * 1024, leaveOpen: true) { NewLine = "\n" };
            int code = words is ["monitor"] ? await MonitorAsync(output, ct) : await _commands.RunAsync(words, privileged, uid, output, ct);
            await output.WriteLineAsync($"{ControlProtocol.ExitPrefix}{code}");
            await output.FlushAsync(ct);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or TimeoutException) { }
        finally { ctx.Bus.Stats.Decrement(StatKeys.ControlSession); }
    }

    static async Task<string?> ReadRequestAsync(Stream stream, TimeProvider time, CancellationToken ct)
    {
        using var timeout = Deadline.After(time, RequestTimeout, ct);
        var line = new List<byte>();
        var one = new byte[1];
        // Byte by byte: what follows the request (an SMTP session for "enqueue") is not ours to read.
        while (line.Count < ControlProtocol.MaxRequest)
        {
            if (await stream.ReadAsync(one, timeout.Token) == 0) return null;
            if (one[0] == '\n') return Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r');
            line.Add(one[0]);
        }
        return null;
    }

    /// <summary>
    /// <c>smtpctl monitor</c>: OpenSMTPD's one line a second, until the client goes. The first
    /// line counts from the daemon's start (as theirs, whose last digest starts at zero), each
    /// next one what happened in the second before it; the header comes again every 25 lines.
    /// </summary>
    async Task<int> MonitorAsync(StreamWriter output, CancellationToken ct)
    {
        var last = default(Digest);
        for (int count = 0; ; count++)
        {
            if (count % 25 == 0)
            {
                if (count != 0) await output.WriteLineAsync();
                await output.WriteLineAsync("--- client ---  -- envelope --   ---- relay/delivery --- ------- misc -------");
                await output.WriteLineAsync("curr conn disc  curr  enq  deq   ok tmpfail prmfail loop expire remove bounce");
            }
            var now = Digest.From(ctx.Bus.Stats.Snapshot());
            await output.WriteLineAsync(now.Line(last));
            await output.FlushAsync(ct);
            last = now;
            await Task.Delay(TimeSpan.FromSeconds(1), ctx.Time, ct);
        }
    }

    public void Dispose()
    {
        _listen?.Dispose();
        // A daemon that gave up root may not remove what root created; the next start replaces it.
        try { if (_listen is not null && File.Exists(path)) File.Delete(path); } catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
    }
}
