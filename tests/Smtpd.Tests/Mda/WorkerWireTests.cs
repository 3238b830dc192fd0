using System.Buffers.Binary;
using Smtpd.Mda;

namespace Smtpd.Tests.Mda;

public sealed class WorkerWireTests
{
    [Fact]
    public async Task A_message_goes_through_as_frames_and_a_partly_read_one_is_skipped()
    {
        byte[] message = new byte[WorkerWire.Chunk * 2 + 123];
        Random.Shared.NextBytes(message);
        using var wire = new MemoryStream();
        await WorkerWire.WriteFrameAsync(wire, "job"u8.ToArray(), default);
        await WorkerWire.WriteMessageAsync(wire, new MemoryStream(message), default);
        await WorkerWire.WriteFrameAsync(wire, "next job"u8.ToArray(), default);
        wire.Position = 0;

        Assert.Equal("job"u8.ToArray(), await WorkerWire.ReadFrameAsync(wire, 100, default));
        var stream = new WorkerWire.MessageStream(wire);
        byte[] start = new byte[1000];
        stream.ReadExactly(start);
        Assert.Equal(message[..1000], start);
        stream.Drain(); // the delivery stopped reading early
        Assert.Equal("next job"u8.ToArray(), await WorkerWire.ReadFrameAsync(wire, 100, default));
        Assert.Null(await WorkerWire.ReadFrameAsync(wire, 100, default));
    }

    [Fact]
    public async Task Oversized_negative_and_truncated_frames_are_errors()
    {
        static MemoryStream Frame(int length, int bytes)
        {
            var s = new MemoryStream();
            byte[] len = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(len, length);
            s.Write(len);
            s.Write(new byte[bytes]);
            s.Position = 0;
            return s;
        }
        await Assert.ThrowsAsync<InvalidDataException>(() => WorkerWire.ReadFrameAsync(Frame(101, 101), 100, default));
        await Assert.ThrowsAsync<InvalidDataException>(() => WorkerWire.ReadFrameAsync(Frame(-1, 0), 100, default));
        await Assert.ThrowsAsync<EndOfStreamException>(() => WorkerWire.ReadFrameAsync(Frame(10, 3), 100, default));
        Assert.Throws<InvalidDataException>(() => new WorkerWire.MessageStream(Frame(WorkerWire.Chunk + 1, 0)).ReadByte());
        Assert.Throws<EndOfStreamException>(() => new WorkerWire.MessageStream(Frame(10, 3)).Drain());
    }
}
