using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text.Json;
using Smtpd.Privsep;

namespace Smtpd.Mda;

/// <summary>
/// A delivery process (OpenSMTPD's forked mda child), <c>smtpd --delivery-worker FD UID GID
/// GROUPS</c>: started by the privileged helper, it takes the recipient's uid, gid and groups
/// before it reads a single byte, then delivers the jobs the Mda sends on its socket, several
/// at once (one process per identity; the Mda bounds how many), until the Mda closes it. What
/// it writes belongs to the recipient; it can do nothing the recipient could not.
/// </summary>
public static class DeliveryWorker
{
    public const string Flag = "--delivery-worker";

    public static async Task<int> MainAsync(string[] args)
    {
        if (args.Length < 5 || !int.TryParse(args[1], out int fd) || !uint.TryParse(args[2], out uint uid)
            || !uint.TryParse(args[3], out uint gid))
            return 64;
        uint[] groups = args[4].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(uint.Parse).ToArray();
        // Before any mda command starts: it gets its stdin, stdout and stderr, not our socket.
        InheritedDescriptors.KeepFromChildren();
        var channel = new FdChannel(fd);
        try
        {
            ChildProcess.PreloadAssemblies();
            Identity.Become(uid, gid, groups);
        }
        catch (InvalidOperationException ex)
        {
            await Console.Error.WriteLineAsync($"smtpd delivery process: {ex.Message}");
            return 1;
        }
        // Deliveries block their threads (file writes, fsync); jobs must not wait for the pool
        // to grow before they start.
        ThreadPool.GetMinThreads(out _, out int io);
        ThreadPool.SetMinThreads(MdaProcess.MaxDeliveries + 2, io);
        using var stream = new NetworkStream(channel.ToSocket(), ownsSocket: true);
        return await ServeAsync(stream, uid);
    }

    /// <summary>
    /// Reads the socket on this thread (blocking, so no delivery can starve it): each job's
    /// message goes into a pipe of its own that its delivery reads, and a delivery that has not
    /// taken 256 KiB of its message yet holds the others back until it has (a bound on memory).
    /// Ends when the Mda closes its end, once the deliveries under way have answered.
    /// </summary>
    static async Task<int> ServeAsync(Stream stream, uint uid)
    {
        // Several small frames come in one write: read them through a buffer (this thread is its
        // only reader; answers are written to the socket directly).
        var input = new BufferedStream(stream, WorkerWire.Chunk + WorkerWire.HeaderSize);
        var messages = new Dictionary<uint, Pipe>();
        var running = new List<Task>();
        var writing = new Lock();
        byte[] skip = new byte[WorkerWire.Chunk];
        int exit = 0;
        try
        {
            while (WorkerWire.TryReadHeader(input, WorkerWire.MaxHeader, out uint id, out var kind, out int length))
            {
                switch (kind)
                {
                    case WorkerWire.Kind.Job:
                        byte[] header = new byte[length];
                        input.ReadExactly(header);
                        var job = JsonSerializer.Deserialize(header, DeliveryJson.Default.DeliveryJob) ?? throw new InvalidDataException("empty job");
                        var pipe = new Pipe(MessagePipe);
                        if (!messages.TryAdd(id, pipe)) throw new InvalidDataException($"job {id} given twice");
                        running.RemoveAll(t => t.IsCompleted);
                        running.Add(Task.Run(() => RunJobAsync(id, job, pipe.Reader, uid, stream, writing)));
                        break;
                    case WorkerWire.Kind.Data when length <= WorkerWire.Chunk:
                        if (messages.TryGetValue(id, out var to))
                        {
                            var memory = to.Writer.GetMemory(length);
                            input.ReadExactly(memory.Span[..length]);
                            to.Writer.Advance(length);
                            to.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
                        }
                        else input.ReadExactly(skip.AsSpan(0, length));
                        break;
                    case WorkerWire.Kind.End or WorkerWire.Kind.Abort when length == 0:
                        if (messages.Remove(id, out var done))
                            done.Writer.Complete(kind == WorkerWire.Kind.Abort ? new IOException("the queue could not give the whole message") : null);
                        break;
                    default:
                        throw new InvalidDataException($"unexpected {kind} frame of {length} bytes");
                }
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or JsonException)
        {
            await Console.Error.WriteLineAsync($"smtpd delivery process: {ex.Message}");
            exit = 1;
        }
        // A message cut short is never delivered in part.
        foreach (var pipe in messages.Values) pipe.Writer.Complete(new IOException("the message was cut short"));
        await Task.WhenAll(running);
        return exit;
    }

    /// <summary>
    /// A job's window: the message bytes read ahead of its delivery. A Maildir or mbox delivery
    /// takes them as fast as the disk does, so 256 KiB keeps it busy; with up to seven jobs of a
    /// user at once, 1 MiB windows made a delivery process of 1 MiB messages 42 MB.
    /// </summary>
    static readonly PipeOptions MessagePipe = new(pauseWriterThreshold: 256 * 1024, resumeWriterThreshold: 128 * 1024,
        readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);

    static async Task RunJobAsync(uint id, DeliveryJob job, PipeReader reader, uint uid, Stream socket, Lock writing)
    {
        Outcome outcome;
        try
        {
            // Disposing the stream completes the reader: what is left of the message is dropped.
            await using var message = reader.AsStream();
            outcome = await RunAsync(job, message, uid);
        }
        catch (Exception ex)
        {
            // One job's surprise is that job's temporary failure; the others go on.
            outcome = Outcome.TempFail($"Internal error: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
        }
        byte[] answer = JsonSerializer.SerializeToUtf8Bytes(new DeliveryResult(outcome.Kind, outcome.Text), DeliveryJson.Default.DeliveryResult);
        try { lock (writing) WorkerWire.WriteFrame(socket, id, WorkerWire.Kind.Result, answer); }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException) { } // the Mda is gone: it recorded nothing, and tries again at its next start
    }

    static async Task<Outcome> RunAsync(DeliveryJob job, Stream message, uint uid)
    {
        if (job.Identity.Uid != uid) return Outcome.TempFail($"delivery process of uid {uid} was given a job for uid {job.Identity.Uid}");
        bool opened = false;
        Stream Open()
        {
            if (opened) throw new IOException("the message can be read only once in a delivery process");
            opened = true;
            return message;
        }
        try { return await job.CreateDelivery().DeliverAsync(job.Request(Open), CancellationToken.None); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return Outcome.TempFail(SystemErrors.Describe(ex));
        }
    }
}
