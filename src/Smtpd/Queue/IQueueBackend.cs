namespace Smtpd.Queue;

/// <summary>
/// Durable storage of messages and their envelopes (OpenSMTPD's queue_backend).
/// Contract:
/// - <see cref="MessageCreateAsync"/> reserves a message id in an incoming area that no walk sees.
/// - <see cref="EnvelopeCreateAsync"/> before commit adds an envelope to that incoming message.
/// - When <see cref="MessageCommitAsync"/> returns, the message and all its envelopes are on disk
///   (fsync'd) and visible to <see cref="EnvelopeWalk"/>: only then may the client get 250.
/// - <see cref="MessageDeleteAsync"/> on an uncommitted message is the rollback: nothing remains.
/// - <see cref="EnvelopeDeleteAsync"/> removes the message too once its last envelope is gone.
/// Implementations are safe to call concurrently for different messages.
/// </summary>
public interface IQueueBackend
{
    /// <summary>Prepares the storage at start and discards messages whose reception never finished.</summary>
    void Init() { }

    Task<uint> MessageCreateAsync(CancellationToken ct = default);

    /// <summary>The stream the received message is written to (incoming area). Caller disposes.</summary>
    Stream MessageWriteStream(uint msgid);

    Task MessageCommitAsync(uint msgid, CancellationToken ct = default);
    Task MessageDeleteAsync(uint msgid);

    /// <summary>Sets aside a message that cannot be read (fs: moved to corrupt/); by default it is dropped.</summary>
    Task MessageCorruptAsync(uint msgid) => MessageDeleteAsync(msgid);

    /// <summary>A read-only stream of a committed message. Caller disposes.</summary>
    Stream MessageReadStream(uint msgid);

    Task EnvelopeCreateAsync(Envelope envelope, CancellationToken ct = default);
    Task EnvelopeUpdateAsync(Envelope envelope, CancellationToken ct = default);

    /// <summary>Deletes an envelope; returns true if its message had no envelope left and is gone too.</summary>
    Task<bool> EnvelopeDeleteAsync(ulong evpid);

    /// <summary>Sets aside an envelope found corrupt when it was loaded (fs: moved to corrupt/, as the start-up walk does); by default it is dropped.</summary>
    async Task EnvelopeCorruptAsync(ulong evpid) => await EnvelopeDeleteAsync(evpid);

    /// <summary>Loads an envelope; null if it does not exist. Throws <see cref="FormatException"/> if corrupt.</summary>
    Task<Envelope?> EnvelopeLoadAsync(ulong evpid);

    /// <summary>Every committed envelope once; corrupt ones are moved aside and reported through <paramref name="corrupt"/>.</summary>
    IAsyncEnumerable<Envelope> EnvelopeWalk(Action<string, Exception>? corrupt = null, CancellationToken ct = default);
}
