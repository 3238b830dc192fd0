using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;

namespace Smtpd.Mda;

/// <summary>
/// The Mda's side of one delivery process (one identity): jobs are sent with an id of their own,
/// their messages interleaved frame by frame with the other jobs', and each answer is matched to
/// its job by id, so the process runs several deliveries at once. Anything that breaks the stream
/// (the process exits, a write is cut off, a job outlives its time) closes it: every job still
/// waiting ends as a temporary failure, and the pool starts a new process for the next one.
/// </summary>
public sealed class DeliveryProcess : IDisposable
{
    /// <summary>A command delivery may run 10 minutes (CommandDelivery); a process silent for longer is stuck.</summary>
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(11);

    readonly NetworkStream _stream;
    readonly SemaphoreSlim _writing = new(1, 1);
    readonly ConcurrentDictionary<uint, TaskCompletionSource<DeliveryResult>> _answers = new();
    uint _nextJob;
    volatile bool _closed;

    public DeliveryProcess(Socket socket)
    {
        _stream = new NetworkStream(socket, ownsSocket: true);
        _ = ReadAnswersAsync();
    }

    public bool IsClosed => _closed;

    /// <summary>Jobs under way (changed by the pool, under its lock), and since when there were none.</summary>
    public int Active { get; set; }
    public DateTimeOffset IdleSince { get; set; }
    /// <summary>The pool's clock: a job's timeout counts on it.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public async Task<Outcome> RunAsync(DeliveryJob job, Func<Stream> openMessage, CancellationToken ct)
    {
        uint id = Interlocked.Increment(ref _nextJob);
        var answer = new TaskCompletionSource<DeliveryResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _answers[id] = answer;
        if (_closed) { _answers.TryRemove(id, out _); return Outcome.TempFail("delivery process failed: it has exited"); }
        using var timeout = Deadline.After(Time, JobTimeout, ct);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(job, DeliveryJson.Default.DeliveryJob);
        // Opened before the job is announced and outside what closes the process: a message the
        // queue cannot give is this job's failure alone (the Mda's temporary failure); the
        // process never hears of it, and the other jobs it runs go on.
        Stream message;
        try { message = openMessage(); }
        catch { _answers.TryRemove(id, out _); throw; }
        // A job's frames are gathered into writes of about a chunk: a small message, with its
        // job and end frames, goes in one write.
        // 16 KiB of message per write keeps the pooled batch a small object (with a whole 64 KiB
        // chunk it was a large one, kept by the pool for every thread that ever sent a job).
        byte[] batch = ArrayPool<byte>.Shared.Rent(json.Length + 3 * WorkerWire.HeaderSize + BatchData);
        Exception? unreadable = null;
        try
        {
            await using (message)
            {
                WorkerWire.WriteHeader(batch, id, WorkerWire.Kind.Job, json.Length);
                json.CopyTo(batch, WorkerWire.HeaderSize);
                int used = WorkerWire.HeaderSize + json.Length;
                var end = WorkerWire.Kind.End;
                // An answer before the end (the delivery failed early) needs no more of the message.
                while (!answer.Task.IsCompleted)
                {
                    // Room for this data frame's header and for the end frame's.
                    int room = Math.Min(WorkerWire.Chunk, batch.Length - used - 2 * WorkerWire.HeaderSize);
                    if (room < 4096)
                    {
                        await SendAsync(batch.AsMemory(0, used), timeout.Token);
                        used = 0;
                        continue;
                    }
                    int n;
                    try { n = await message.ReadAsync(batch.AsMemory(used + WorkerWire.HeaderSize, room), timeout.Token); }
                    catch (Exception ex) when (ex is IOException or InvalidDataException or System.Security.Cryptography.CryptographicException)
                    {
                        // The queue could not give the whole message: the delivery must not complete a partial one.
                        end = WorkerWire.Kind.Abort;
                        unreadable = ex;
                        break;
                    }
                    if (n == 0) break;
                    WorkerWire.WriteHeader(batch.AsSpan(used), id, WorkerWire.Kind.Data, n);
                    used += WorkerWire.HeaderSize + n;
                }
                WorkerWire.WriteHeader(batch.AsSpan(used), id, end, 0);
                await SendAsync(batch.AsMemory(0, used + WorkerWire.HeaderSize), timeout.Token);
            }
            var result = await answer.Task.WaitAsync(timeout.Token);
            // An aborted job fails for the queue's reason, not the process's "cut short": the log
            // says what is wrong, and the queue sets a corrupt message aside as it does when the
            // delivery runs in the daemon itself.
            if (unreadable is not null && result.Kind == OutcomeKind.TempFail) return Outcome.TempFail(SystemErrors.Describe(unreadable));
            return new Outcome(result.Kind, result.Text);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // A frame may be cut in half, or the process stuck: nothing more can be said to it.
            // (Its other jobs end as temporary failures too; one it finishes anyway is delivered
            // again later: a duplicate, never a loss.)
            Dispose();
            if (ex is OperationCanceledException && ct.IsCancellationRequested) throw;
            return Outcome.TempFail(ex is OperationCanceledException ? "the delivery process did not answer in time" : $"delivery process failed: {SystemErrors.Describe(ex)}");
        }
        finally
        {
            _answers.TryRemove(id, out _);
            ArrayPool<byte>.Shared.Return(batch);
        }
    }

    const int BatchData = 16 * 1024;

    /// <summary>Whole frames, in one write that no other job's write can split.</summary>
    async Task SendAsync(ReadOnlyMemory<byte> frames, CancellationToken ct)
    {
        await _writing.WaitAsync(ct);
        try { await _stream.WriteAsync(frames, ct); }
        finally { _writing.Release(); }
    }

    async Task ReadAnswersAsync()
    {
        try
        {
            // Answers are small: read them through a buffer (this loop is its only reader; writes go to the socket directly).
            var answers = new BufferedStream(_stream, 4096);
            while (await WorkerWire.ReadFrameAsync(answers, WorkerWire.MaxHeader, CancellationToken.None) is { } frame)
            {
                if (frame.Kind != WorkerWire.Kind.Result) throw new InvalidDataException($"unexpected {frame.Kind} frame from the delivery process");
                var result = JsonSerializer.Deserialize(frame.Payload, DeliveryJson.Default.DeliveryResult) ?? throw new InvalidDataException("empty answer");
                if (_answers.TryGetValue(frame.Job, out var waiting)) waiting.TrySetResult(result);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or JsonException or InvalidDataException) { }
        Dispose();
    }

    /// <summary>Closes our end: the process sees the end of its input, finishes what it holds and exits.</summary>
    public void Dispose()
    {
        _closed = true;
        _stream.Dispose();
        foreach (var waiting in _answers.Values) waiting.TrySetException(new IOException("the delivery process exited during the delivery"));
    }
}
