using System.Net.Sockets;
using System.Text.Json;
using Smtpd.Privsep;

namespace Smtpd.Mda;

/// <summary>
/// A delivery process (OpenSMTPD's forked mda child), <c>smtpd --delivery-worker FD UID GID
/// GROUPS</c>: started by the privileged helper, it takes the recipient's uid, gid and groups
/// before it reads a single byte, then delivers the jobs the Mda sends on its socket, one at a
/// time, until the Mda closes it. What it writes belongs to the recipient; it can do nothing the
/// recipient could not.
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
        await using var stream = new NetworkStream(channel.ToSocket(), ownsSocket: true);
        while (await WorkerWire.ReadFrameAsync(stream, WorkerWire.MaxHeader, CancellationToken.None) is { } header)
        {
            var job = JsonSerializer.Deserialize(header, DeliveryJson.Default.DeliveryJob)
                ?? throw new InvalidDataException("empty job");
            var message = new WorkerWire.MessageStream(stream);
            var outcome = await RunAsync(job, message, uid);
            message.Drain();
            var result = new DeliveryResult(outcome.Kind, outcome.Text);
            await WorkerWire.WriteFrameAsync(stream, JsonSerializer.SerializeToUtf8Bytes(result, DeliveryJson.Default.DeliveryResult), CancellationToken.None);
        }
        return 0;
    }

    static async Task<Outcome> RunAsync(DeliveryJob job, WorkerWire.MessageStream message, uint uid)
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
