namespace Smtpd.Mta;

/// <summary>
/// Sends a stored message as DATA content: lines that start with "." get a second one, every
/// line ends in CRLF (a bare LF becomes CRLF), and "CRLF.CRLF" ends it (RFC 5321 4.5.2).
/// </summary>
public static class DotStuffing
{
    public static async Task CopyAsync(Stream message, Stream output, CancellationToken ct)
    {
        byte[] input = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try { await CopyAsync(message, output, input, ct); }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(input); }
    }

    static async Task CopyAsync(Stream message, Stream output, byte[] input, CancellationToken ct)
    {
        var outBuf = new MemoryStream(40 * 1024);
        bool lineStart = true, lastWasCr = false;
        int n;
        while ((n = await message.ReadAsync(input, ct)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                byte b = input[i];
                if (lineStart && b == (byte)'.') outBuf.WriteByte((byte)'.');
                if (b == (byte)'\n' && !lastWasCr) outBuf.WriteByte((byte)'\r');
                outBuf.WriteByte(b);
                lineStart = b == (byte)'\n';
                lastWasCr = b == (byte)'\r';
            }
            if (outBuf.Length >= 32 * 1024)
            {
                await output.WriteAsync(outBuf.GetBuffer().AsMemory(0, (int)outBuf.Length), ct);
                outBuf.SetLength(0);
            }
        }
        if (!lineStart) { if (!lastWasCr) outBuf.WriteByte((byte)'\r'); outBuf.WriteByte((byte)'\n'); }
        outBuf.Write(".\r\n"u8);
        await output.WriteAsync(outBuf.GetBuffer().AsMemory(0, (int)outBuf.Length), ct);
        await output.FlushAsync(ct);
    }
}
