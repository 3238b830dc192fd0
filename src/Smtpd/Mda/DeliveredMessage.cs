using System.Text;

namespace Smtpd.Mda;

/// <summary>
/// The message as a mailbox stores it: the delivery headers OpenSMTPD adds
/// (<c>Return-Path</c>, <c>Delivered-To</c>) followed by the spooled message with LF line ends,
/// which is what maildir and mbox readers expect. The body is otherwise byte-for-byte as received.
/// </summary>
public static class DeliveredMessage
{
    static readonly byte[] FromSpace = "From "u8.ToArray();

    /// <summary>Opens the spooled message, with the daemon's own rights (the spool is not the user's to read).</summary>
    public static FileStream OpenSpooled(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.SequentialScan);

    public static byte[] Headers(DeliveryRequest r) =>
        Encoding.UTF8.GetBytes($"Return-Path: <{r.Sender}>\nDelivered-To: {r.Recipient}\n");

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="target"/>, turning CRLF into LF; with
    /// <paramref name="escapeFrom"/>, every line starting "From " gets a '>' (mboxo, so that no
    /// body line can be read as a message separator). Returns the bytes written.
    /// </summary>
    public static long CopyAsLf(Stream source, Stream target, bool escapeFrom)
    {
        var input = new byte[64 * 1024];
        var output = new MemoryStream(72 * 1024);
        var head = new byte[FromSpace.Length];
        int headLength = 0;
        bool collecting = escapeFrom; // at a line start, holding back bytes that may be "From "
        bool pendingCr = false;
        long total = 0;

        int n;
        while ((n = source.Read(input, 0, input.Length)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                byte b = input[i];
                if (pendingCr)
                {
                    pendingCr = false;
                    if (b != (byte)'\n') Emit((byte)'\r');
                }
                if (b == (byte)'\r') { pendingCr = true; continue; }
                Emit(b);
            }
            Drain();
        }
        if (pendingCr) Emit((byte)'\r');
        output.Write(head, 0, headLength);
        Drain();
        return total;

        void Emit(byte b)
        {
            if (collecting)
            {
                head[headLength++] = b;
                if (b == FromSpace[headLength - 1])
                {
                    if (headLength < FromSpace.Length) return;
                    output.WriteByte((byte)'>');
                }
                output.Write(head, 0, headLength);
                headLength = 0;
                collecting = b == (byte)'\n';
                return;
            }
            output.WriteByte(b);
            if (b == (byte)'\n') collecting = escapeFrom;
        }

        void Drain()
        {
            total += output.Length;
            target.Write(output.GetBuffer(), 0, (int)output.Length);
            output.SetLength(0);
        }
    }
}
