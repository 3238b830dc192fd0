using System.Runtime.CompilerServices;

namespace Smtpd.Queue;

/// <summary>
/// A queue kept in memory (seed 004: the ram backend, "useful to validate APIs and run tests"):
/// the same contract as the fs queue, but a restart forgets everything. Not for production mail.
/// </summary>
public sealed class RamQueue : IQueueBackend
{
    readonly object _lock = new();
    readonly Dictionary<uint, byte[]?> _incoming = [];
    readonly Dictionary<uint, List<Envelope>> _incomingEnvelopes = [];
    readonly Dictionary<uint, byte[]> _messages = [];
    readonly SortedDictionary<ulong, Envelope> _envelopes = [];

    public Task<uint> MessageCreateAsync(CancellationToken ct = default)
    {
        lock (_lock)
        {
            uint msgid;
            do msgid = QueueIds.NewMessageId(); while (_incoming.ContainsKey(msgid) || _messages.ContainsKey(msgid));
            _incoming[msgid] = null;
            _incomingEnvelopes[msgid] = [];
            return Task.FromResult(msgid);
        }
    }

    public Stream MessageWriteStream(uint msgid) => new Capture(bytes => { lock (_lock) _incoming[msgid] = bytes; });

    public Task MessageCommitAsync(uint msgid, CancellationToken ct = default)
    {
        lock (_lock)
        {
            if (!_incoming.Remove(msgid, out var bytes)) throw new IOException($"no incoming message {QueueIds.Hex(msgid)}");
            _messages[msgid] = bytes ?? [];
            foreach (var e in _incomingEnvelopes[msgid]) _envelopes[e.Id] = e;
            _incomingEnvelopes.Remove(msgid);
        }
        return Task.CompletedTask;
    }

    public Task MessageDeleteAsync(uint msgid)
    {
        lock (_lock)
        {
            _incoming.Remove(msgid);
            _incomingEnvelopes.Remove(msgid);
            _messages.Remove(msgid);
            foreach (var id in _envelopes.Keys.Where(id => QueueIds.MessageOf(id) == msgid).ToList()) _envelopes.Remove(id);
        }
        return Task.CompletedTask;
    }

    public Stream MessageReadStream(uint msgid)
    {
        lock (_lock)
            return _messages.TryGetValue(msgid, out var bytes)
                ? new MemoryStream(bytes, writable: false)
                : throw new FileNotFoundException($"no message {QueueIds.Hex(msgid)}");
    }

    public Task EnvelopeCreateAsync(Envelope envelope, CancellationToken ct = default)
    {
        lock (_lock)
        {
            if (_incomingEnvelopes.TryGetValue(envelope.MessageId, out var pending)) pending.Add(envelope);
            else if (_messages.ContainsKey(envelope.MessageId)) _envelopes[envelope.Id] = envelope;
            else throw new IOException($"no message {QueueIds.Hex(envelope.MessageId)}");
        }
        return Task.CompletedTask;
    }

    public Task EnvelopeUpdateAsync(Envelope envelope, CancellationToken ct = default)
    {
        lock (_lock) if (_envelopes.ContainsKey(envelope.Id)) _envelopes[envelope.Id] = envelope;
        return Task.CompletedTask;
    }

    public Task<bool> EnvelopeDeleteAsync(ulong evpid)
    {
        lock (_lock)
        {
            _envelopes.Remove(evpid);
            uint msgid = QueueIds.MessageOf(evpid);
            if (_envelopes.Keys.Any(id => QueueIds.MessageOf(id) == msgid)) return Task.FromResult(false);
            _messages.Remove(msgid);
            return Task.FromResult(true);
        }
    }

    public Task<Envelope?> EnvelopeLoadAsync(ulong evpid)
    {
        lock (_lock) return Task.FromResult(_envelopes.GetValueOrDefault(evpid));
    }

    public async IAsyncEnumerable<Envelope> EnvelopeWalk(Action<string, Exception>? corrupt = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        List<Envelope> snapshot;
        lock (_lock) snapshot = [.. _envelopes.Values];
        foreach (var e in snapshot)
        {
            ct.ThrowIfCancellationRequested();
            bool stillThere;
            lock (_lock) stillThere = _envelopes.ContainsKey(e.Id);
            if (stillThere) yield return e;
        }
        await Task.CompletedTask;
    }

    /// <summary>Collects what is written; hands the bytes over when disposed.</summary>
    sealed class Capture(Action<byte[]> done) : MemoryStream
    {
        protected override void Dispose(bool disposing)
        {
            if (disposing) done(ToArray());
            base.Dispose(disposing);
        }
    }
}
