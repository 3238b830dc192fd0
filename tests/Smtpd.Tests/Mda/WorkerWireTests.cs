using System.Buffers.Binary;
using Smtpd.Mda;

namespace Smtpd.Tests.Mda;

public sealed class WorkerWireTests
{
    [Fact]
    public async Task Frames_of_two_jobs_interleave_and_each_keeps_its_id_kind_and_bytes()
    {
        byte[] first = new byte[WorkerWire.Chunk], second = new byte[123];
        Random.Shared.NextBytes(first);
        Random.Shared.NextBytes(second);
        using var wire = new MemoryStream();
        WorkerWire.WriteFrame(wire, 1, WorkerWire.Kind.Job, "job 1"u8);
        WorkerWire.WriteFrame(wire, 2, WorkerWire.Kind.Job, "job 2"u8);
        WorkerWire.WriteFrame(wire, 1, WorkerWire.Kind.Data, first);
        WorkerWire.WriteFrame(wire, 2, WorkerWire.Kind.Data, second);
        WorkerWire.WriteFrame(wire, 2, WorkerWire.Kind.End, ReadOnlySpan<byte>.Empty);
        WorkerWire.WriteFrame(wire, 1, WorkerWire.Kind.Abort, ReadOnlySpan<byte>.Empty);
        wire.Position = 0;

        var expected = new (uint, WorkerWire.Kind, byte[])[]
        {
            (1, WorkerWire.Kind.Job, "job 1"u8.ToArray()), (2, WorkerWire.Kind.Job, "job 2"u8.ToArray()),
            (1, WorkerWire.Kind.Data, first), (2, WorkerWire.Kind.Data, second),
            (2, WorkerWire.Kind.End, []), (1, WorkerWire.Kind.Abort, []),
        };
        foreach (var (job, kind, payload) in expected[..3])
        {
            var frame = await WorkerWire.ReadFrameAsync(wire, WorkerWire.Chunk, default);
            Assert.Equal((job, kind), (frame!.Value.Job, frame.Value.Kind));
            Assert.Equal(payload, frame.Value.Payload);
        }
        // The delivery process reads the same frames synchronously.
        foreach (var (job, kind, payload) in expected[3..])
        {
            Assert.True(WorkerWire.TryReadHeader(wire, WorkerWire.Chunk, out uint id, out var k, out int length));
            byte[] data = new byte[length];
            wire.ReadExactly(data);
            Assert.Equal((job, kind), (id, k));
            Assert.Equal(payload, data);
        }
        Assert.Null(await WorkerWire.ReadFrameAsync(wire, 100, default));
        Assert.False(WorkerWire.TryReadHeader(wire, 100, out _, out _, out _));
    }

    [Fact]
    public async Task Oversized_negative_truncated_and_unknown_frames_are_errors()
    {
        static MemoryStream Frame(int length, int bytes, byte kind = (byte)WorkerWire.Kind.Data)
        {
            var s = new MemoryStream();
            byte[] header = new byte[WorkerWire.HeaderSize];
            BinaryPrimitives.WriteInt32BigEndian(header, length + 5);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), 7);
            header[8] = kind;
            s.Write(header);
            s.Write(new byte[bytes]);
            s.Position = 0;
            return s;
        }
        await Assert.ThrowsAsync<InvalidDataException>(() => WorkerWire.ReadFrameAsync(Frame(101, 101), 100, default));
        await Assert.ThrowsAsync<InvalidDataException>(() => WorkerWire.ReadFrameAsync(Frame(-6, 0), 100, default));
        await Assert.ThrowsAsync<InvalidDataException>(() => WorkerWire.ReadFrameAsync(Frame(0, 0, kind: 99), 100, default));
        await Assert.ThrowsAsync<EndOfStreamException>(() => WorkerWire.ReadFrameAsync(Frame(10, 3), 100, default));
        var cut = new MemoryStream(new byte[4]);
        Assert.Throws<EndOfStreamException>(() => WorkerWire.TryReadHeader(cut, 100, out _, out _, out _));
        Assert.Throws<InvalidDataException>(() => WorkerWire.TryReadHeader(Frame(101, 101), 100, out _, out _, out _));
    }
}
