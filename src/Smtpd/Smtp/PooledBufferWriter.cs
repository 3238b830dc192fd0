using System.Buffers;

namespace Smtpd.Smtp;

/// <summary>
/// A growable output buffer whose arrays are rented from the shared pool and given back on
/// <see cref="Dispose"/>: DATA gathers each message in one between writes to disk. Most clients
/// send one message per connection (Postfix's smtp-source, most MTAs delivering a single
/// message), so a buffer kept per session was a new 52 KiB array for every message: half of all
/// the daemon allocated under a 10 KiB-message load, and most of its gen0 garbage.
/// </summary>
/// <param name="pooled">False: plain arrays, never given back. For a writer that a task may still
/// use after its owner has given up waiting for it (a filter chain past its timeout): a pooled
/// array given back then could be written while another message uses it.</param>
public sealed class PooledBufferWriter(int initialCapacity, bool pooled = true) : IBufferWriter<byte>, IDisposable
{
    byte[] _array = pooled ? ArrayPool<byte>.Shared.Rent(initialCapacity) : new byte[initialCapacity];
    int _written;

    public int WrittenCount => _written;
    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, _written);

    public void ResetWrittenCount() => _written = 0;

    public void Advance(int count)
    {
        if (count < 0 || _written + count > _array.Length) throw new ArgumentOutOfRangeException(nameof(count));
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint); // first: it may replace _array
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _array.AsSpan(_written);
    }

    /// <summary>Makes room for at least <paramref name="sizeHint"/> bytes (1 when 0) after what is written.</summary>
    void Reserve(int sizeHint)
    {
        int need = Math.Max(sizeHint, 1);
        if (_array.Length - _written < need)
        {
            int size = checked(Math.Max(_array.Length * 2, _written + need));
            var larger = pooled ? ArrayPool<byte>.Shared.Rent(size) : new byte[size];
            _array.AsSpan(0, _written).CopyTo(larger);
            if (pooled) ArrayPool<byte>.Shared.Return(_array);
            _array = larger;
        }
    }

    public void Dispose()
    {
        if (!pooled) return;
        var array = Interlocked.Exchange(ref _array, []);
        if (array.Length > 0) ArrayPool<byte>.Shared.Return(array);
        _written = 0;
    }
}
