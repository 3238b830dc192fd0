using System.Buffers.Binary;
using System.Text;

namespace Smtpd.Filter.Milter;

/// <summary>One packet: a code byte and its data (the 4-byte big-endian length, which counts the code, is the framing).</summary>
public readonly record struct MilterPacket(byte Code, ReadOnlyMemory<byte> Data)
{
    /// <summary>Strings in packets are bytes: Latin-1 keeps every byte as one char and back.</summary>
    public static readonly Encoding Text = Encoding.Latin1;

    /// <summary>The packet as sent on the wire.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[5 + Data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(Data.Length + 1));
        bytes[4] = Code;
        Data.Span.CopyTo(bytes.AsSpan(5));
        return bytes;
    }

    /// <summary>A packet whose data is NUL-terminated strings (most commands).</summary>
    public static MilterPacket Strings(byte code, params string[] values)
    {
        var data = new List<byte>();
        foreach (var v in values)
        {
            data.AddRange(Text.GetBytes(v));
            data.Add(0);
        }
        return new MilterPacket(code, data.ToArray());
    }

    /// <summary>The NUL-terminated strings of the data; a missing final NUL is a malformed packet.</summary>
    /// <exception cref="MilterProtocolException">Malformed.</exception>
    public IReadOnlyList<string> ReadStrings(int offset = 0)
    {
        var span = Data.Span[offset..];
        var list = new List<string>();
        while (span.Length > 0)
        {
            int nul = span.IndexOf((byte)0);
            if (nul < 0) throw new MilterProtocolException($"reply '{(char)Code}' has a string without its NUL");
            list.Add(Text.GetString(span[..nul]));
            span = span[(nul + 1)..];
        }
        return list;
    }

    /// <summary>A 32-bit big-endian number at <paramref name="offset"/>.</summary>
    /// <exception cref="MilterProtocolException">The packet is too short.</exception>
    public uint ReadUInt32(int offset)
    {
        if (Data.Length < offset + 4) throw new MilterProtocolException($"reply '{(char)Code}' is too short");
        return BinaryPrimitives.ReadUInt32BigEndian(Data.Span[offset..]);
    }

    /// <summary>Reads one packet from <paramref name="stream"/>.</summary>
    /// <exception cref="MilterProtocolException">Its length is 0 or above <see cref="MilterProtocol.MaxPacket"/>.</exception>
    /// <exception cref="EndOfStreamException">The milter closed the connection.</exception>
    public static async Task<MilterPacket> ReadAsync(Stream stream, CancellationToken ct)
    {
        var header = new byte[4];
        await stream.ReadExactlyAsync(header, ct);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (length == 0 || length > MilterProtocol.MaxPacket) throw new MilterProtocolException($"packet length {length}");
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, ct);
        return new MilterPacket(body[0], body.AsMemory(1));
    }
}

/// <summary>A milter said something outside the protocol.</summary>
public sealed class MilterProtocolException(string message) : Exception(message);
