using Smtpd.Queue;

namespace Smtpd.Chaos;

/// <summary>
/// The queue with the monkey in front: each operation may wait, and those whose failure the
/// callers must survive may fail with an I/O error before the real backend is touched (so a
/// failure never leaves half a change). Deletions never fail here: a delete that fails after a
/// delivery can only cause the duplicate the seeds allow at a crash, which the crash test counts.
/// </summary>
public sealed class ChaosQueue(IQueueBackend inner, ChaosMonkey monkey) : IQueueBackend
{
    async Task Strike(string op)
    {
        await monkey.PauseAsync("queue." + op);
        if (monkey.Fails("queue." + op)) throw new IOException($"chaos: injected failure of queue {op}");
    }

    void StrikeNow(string op)
    {
        monkey.Pause("queue." + op);
        if (monkey.Fails("queue." + op)) throw new IOException($"chaos: injected failure of queue {op}");
    }

    public void Init() => inner.Init();

    public async Task<uint> MessageCreateAsync(CancellationToken ct = default)
    {
        await Strike("message-create");
        return await inner.MessageCreateAsync(ct);
    }

    public Stream MessageWriteStream(uint msgid)
    {
        StrikeNow("message-write");
        return inner.MessageWriteStream(msgid);
    }

    public async Task MessageCommitAsync(uint msgid, CancellationToken ct = default)
    {
        await Strike("message-commit");
        await inner.MessageCommitAsync(msgid, ct);
    }

    public Task MessageDeleteAsync(uint msgid) => inner.MessageDeleteAsync(msgid);
    public Task MessageCorruptAsync(uint msgid) => inner.MessageCorruptAsync(msgid);

    public Stream MessageReadStream(uint msgid)
    {
        StrikeNow("message-read");
        return inner.MessageReadStream(msgid);
    }

    public async Task EnvelopeCreateAsync(Envelope envelope, CancellationToken ct = default)
    {
        await Strike("envelope-create");
        await inner.EnvelopeCreateAsync(envelope, ct);
    }

    public async Task EnvelopeUpdateAsync(Envelope envelope, CancellationToken ct = default)
    {
        await Strike("envelope-update");
        await inner.EnvelopeUpdateAsync(envelope, ct);
    }

    public async Task<bool> EnvelopeDeleteAsync(ulong evpid)
    {
        await monkey.PauseAsync("queue.envelope-delete");
        return await inner.EnvelopeDeleteAsync(evpid);
    }

    public Task EnvelopeCorruptAsync(ulong evpid) => inner.EnvelopeCorruptAsync(evpid);

    public async Task<Envelope?> EnvelopeLoadAsync(ulong evpid)
    {
        await Strike("envelope-load");
        return await inner.EnvelopeLoadAsync(evpid);
    }

    public IAsyncEnumerable<Envelope> EnvelopeWalk(Action<string, Exception>? corrupt = null, CancellationToken ct = default) =>
        inner.EnvelopeWalk(corrupt, ct);
}
