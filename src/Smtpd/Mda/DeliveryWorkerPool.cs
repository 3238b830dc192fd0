using System.Net.Sockets;
using System.Text.Json;
using Smtpd.Privsep;

namespace Smtpd.Mda;

/// <summary>
/// Delivery processes for a daemon that runs unprivileged: the privileged helper starts one per
/// identity when needed (never for root), and an idle one is kept for a short while (10 s) so
/// that a burst of mail for one user costs one process start, not one per message.
/// </summary>
public sealed class DeliveryWorkerPool : IDisposable
{
    /// <summary>
    /// Each delivery process costs about 20 MB: one that has waited this long without work exits
    /// (checked as often, so within twice this), and the next burst starts another.
    /// </summary>
    static readonly TimeSpan IdleLifetime = TimeSpan.FromSeconds(10);
    /// <summary>A command delivery may run 10 minutes (CommandDelivery); a process silent for longer is stuck.</summary>
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(11);

    sealed record Worker(Socket Socket, NetworkStream Stream, (uint, uint, uint?) Key)
    {
        public DateTimeOffset IdleSince { get; set; }
    }

    readonly Lock _lock = new();
    readonly List<Worker> _idle = [];
    readonly PrivilegedClient _helper;
    readonly TimeProvider _time;
    readonly ITimer _reaper;

    public DeliveryWorkerPool(PrivilegedClient helper, TimeProvider time)
    {
        _helper = helper;
        _time = time;
        _reaper = time.CreateTimer(_ => { lock (_lock) ReapIdle(); }, null, IdleLifetime, IdleLifetime);
    }

    public async Task<Outcome> RunAsync(DeliveryJob job, uint? extraGroup, Func<Stream> openMessage, CancellationToken ct)
    {
        var identity = job.Identity;
        if (identity.Uid == 0)
            return Outcome.PermFail($"delivery as root is not allowed (user {identity.Name}): alias it to another user");
        var key = (identity.Uid, identity.Gid, extraGroup);
        var worker = TakeIdle(key);
        if (worker is null)
        {
            var (socket, reply) = await _helper.StartWorkerAsync(identity, extraGroup, ct);
            if (socket is null)
                return reply.Result == PrivReply.Failed ? Outcome.PermFail(reply.Text ?? "delivery refused") : Outcome.TempFail(reply.Text ?? "no delivery process");
            worker = new Worker(socket, new NetworkStream(socket, ownsSocket: true), key);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(JobTimeout);
        try
        {
            await WorkerWire.WriteFrameAsync(worker.Stream, JsonSerializer.SerializeToUtf8Bytes(job, DeliveryJson.Default.DeliveryJob), timeout.Token);
            await using (var message = openMessage())
                await WorkerWire.WriteMessageAsync(worker.Stream, message, timeout.Token);
            var answer = await WorkerWire.ReadFrameAsync(worker.Stream, WorkerWire.MaxHeader, timeout.Token)
                ?? throw new IOException("the delivery process exited during the delivery");
            var result = JsonSerializer.Deserialize(answer, DeliveryJson.Default.DeliveryResult) ?? throw new IOException("empty answer");
            GiveBack(worker);
            return new Outcome(result.Kind, result.Text);
        }
        catch (Exception ex) when (ex is IOException or SocketException or JsonException or InvalidDataException or OperationCanceledException)
        {
            worker.Stream.Dispose();
            if (ex is OperationCanceledException && ct.IsCancellationRequested) throw;
            return Outcome.TempFail(ex is OperationCanceledException ? "the delivery process did not answer in time" : $"delivery process failed: {SystemErrors.Describe(ex)}");
        }
    }

    Worker? TakeIdle((uint, uint, uint?) key)
    {
        lock (_lock)
        {
            ReapIdle();
            int i = _idle.FindIndex(w => w.Key == key);
            if (i < 0) return null;
            var worker = _idle[i];
            _idle.RemoveAt(i);
            return worker;
        }
    }

    void ReapIdle()
    {
        var now = _time.GetUtcNow();
        foreach (var stale in _idle.Where(w => now - w.IdleSince > IdleLifetime).ToList())
        {
            _idle.Remove(stale);
            stale.Stream.Dispose(); // the process sees the end of its input and exits
        }
    }

    void GiveBack(Worker worker)
    {
        worker.IdleSince = _time.GetUtcNow();
        lock (_lock) _idle.Add(worker);
    }

    public void Dispose()
    {
        _reaper.Dispose();
        lock (_lock)
        {
            foreach (var w in _idle) w.Stream.Dispose();
            _idle.Clear();
        }
    }
}
