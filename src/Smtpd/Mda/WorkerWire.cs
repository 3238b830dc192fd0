using System.Buffers;
using System.Buffers.Binary;

namespace Smtpd.Mda;

/// <summary>
/// Framing between the Mda and a delivery process over their socket. One process serves every
/// delivery of its identity at once, so every frame names its job: a 4-byte big-endian length
/// (of what follows), the 4-byte job id, a kind byte, then the payload. A job is a
/// <see cref="Kind.Job"/> frame (JSON), its message as <see cref="Kind.Data"/> frames ending with
/// <see cref="Kind.End"/> (or <see cref="Kind.Abort"/> when the queue could not be read), and the
/// answer is a <see cref="Kind.Result"/> frame (JSON) with the same id. Frames of different jobs
/// interleave; the frames of one job keep their order.
/// </summary>
public static class WorkerWire
{
    public enum Kind : byte { Job = 1, Data = 2, End = 3, Abort = 4, Result = 5 }

    /// <summary>Bytes before the payload: length, job id, kind.</summary>
    public const int HeaderSize = 9;
    public const int MaxHeader = 1024 * 1024, Chunk = 64 * 1024;

    public readonly record struct Frame(uint Job, Kind Kind, byte[] Payload);

    /// <summary>Writes one frame with one write, so that frames of concurrent jobs never mix (the caller serializes writers).</summary>
    public static void WriteFrame(Stream s, uint job, Kind kind, ReadOnlySpan<byte> payload)
    {
        byte[] frame = ArrayPool<byte>.Shared.Rent(HeaderSize + payload.Length);
        try { s.Write(frame, 0, Encode(frame, job, kind, payload)); }
        finally { ArrayPool<byte>.Shared.Return(frame); }
    }

    static int Encode(byte[] frame, uint job, Kind kind, ReadOnlySpan<byte> payload)
    {
        WriteHeader(frame, job, kind, payload.Length);
        payload.CopyTo(frame.AsSpan(HeaderSize));
        return HeaderSize + payload.Length;
    }

    /// <summary>Writes a frame's header at the start of <paramref name="into"/>, for a payload of <paramref name="length"/> bytes placed right after it.</summary>
    public static void WriteHeader(Span<byte> into, uint job, Kind kind, int length)
    {
        BinaryPrimitives.WriteInt32BigEndian(into, 5 + length);
        BinaryPrimitives.WriteUInt32BigEndian(into[4..], job);
        into[8] = (byte)kind;
    }

    /// <summary>The next frame; null at a clean end of stream before it.</summary>
    public static async Task<Frame?> ReadFrameAsync(Stream s, int max, CancellationToken ct)
    {
        byte[] header = new byte[HeaderSize];
        int got = await s.ReadAtLeastAsync(header, HeaderSize, throwOnEndOfStream: false, ct);
        if (got == 0) return null;
        if (got < HeaderSize) throw new EndOfStreamException("truncated frame");
        var (job, kind, n) = Decode(header, max);
        byte[] data = new byte[n];
        await s.ReadExactlyAsync(data, ct);
        return new Frame(job, kind, data);
    }

    /// <summary>
    /// Reads the next frame's header (synchronously: the delivery process reads its socket on one
    /// thread of its own); false at a clean end of stream. The caller then reads exactly
    /// <paramref name="length"/> payload bytes.
    /// </summary>
    public static bool TryReadHeader(Stream s, int max, out uint job, out Kind kind, out int length)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        int got = s.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
        (job, kind, length) = (0, default, 0);
        if (got == 0) return false;
        if (got < HeaderSize) throw new EndOfStreamException("truncated frame");
        (job, kind, length) = Decode(header, max);
        return true;
    }

    static (uint Job, Kind Kind, int Length) Decode(ReadOnlySpan<byte> header, int max)
    {
        int n = BinaryPrimitives.ReadInt32BigEndian(header) - 5;
        if (n < 0 || n > max) throw new InvalidDataException($"frame of {n} bytes");
        var kind = (Kind)header[8];
        if (!Enum.IsDefined(kind)) throw new InvalidDataException($"frame of unknown kind {header[8]}");
        return (BinaryPrimitives.ReadUInt32BigEndian(header[4..]), kind, n);
    }
}
