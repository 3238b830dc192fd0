using System.Runtime.CompilerServices;

namespace Smtpd.Queue;

/// <summary>
/// A queue that keeps nothing (seed 004: the null backend): every message is "stored" and
/// immediately forgotten. Measures the SMTP side alone in benchmarks; never use it for mail.
/// </summary>
public sealed class NullQueue : IQueueBackend
{
    public Task<uint> MessageCreateAsync(CancellationToken ct = default) => Task.FromResult(QueueIds.NewMessageId());
    public Stream MessageWriteStream(uint msgid) => Stream.Null;
    public Task MessageCommitAsync(uint msgid, CancellationToken ct = default) => Task.CompletedTask;
    public Task MessageDeleteAsync(uint msgid) => Task.CompletedTask;
    public Stream MessageReadStream(uint msgid) => throw new FileNotFoundException("the null queue keeps no message");
    public Task EnvelopeCreateAsync(Envelope envelope, CancellationToken ct = default) => Task.CompletedTask;
    public Task EnvelopeUpdateAsync(Envelope envelope, CancellationToken ct = default) => Task.CompletedTask;
    public Task<bool> EnvelopeDeleteAsync(ulong evpid) => Task.FromResult(true);
    public Task<Envelope?> EnvelopeLoadAsync(ulong evpid) => Task.FromResult<Envelope?>(null);

    public async IAsyncEnumerable<Envelope> EnvelopeWalk(Action<string, Exception>? corrupt = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await Task.CompletedTask;
        yield break;
    }
}
