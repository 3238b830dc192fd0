using System.Buffers;

namespace Smtpd.Fuzz;

/// <summary>One piece of a multi-segment <see cref="ReadOnlySequence{T}"/>, as a pipe hands them out.</summary>
public sealed class ChunkSegment : ReadOnlySequenceSegment<byte>
{
    ChunkSegment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary><paramref name="data"/> cut into pieces of 1 to <paramref name="maxChunk"/> bytes (never an empty sequence of segments).</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, int maxChunk)
    {
        if (data.Length == 0) return ReadOnlySequence<byte>.Empty;
        ChunkSegment? first = null, last = null;
        int offset = 0, i = 0;
        while (offset < data.Length)
        {
            int size = Math.Min(data.Length - offset, 1 + (i++ * 7 + data[offset]) % maxChunk);
            var segment = new ChunkSegment(data.AsMemory(offset, size), offset);
            if (last is null) first = segment; else last.Next = segment;
            last = segment;
            offset += size;
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }
}
