using System.Buffers;
using System.Text;
using Smtpd.Smtp;

namespace Smtpd.Tests.Smtp;

/// <summary>
/// However the network splits the data, the decoded message must be the same: feeds random
/// inputs in random pieces, as a pipe would (unconsumed bytes are offered again with more).
/// </summary>
public class DataReaderChunkingTests
{
    static readonly string[] Pieces = ["a", "b", ".", "..", "\r\n", "\n", "\r", "From ", "Received: x", " ", "\r\n.\r\n"];

    static (DataReader.Status, byte[]) Feed(byte[] input, Random random, bool whole)
    {
        var data = new DataReader(1 << 20, maxLine: 200);
        var output = new ArrayBufferWriter<byte>();
        byte[] pending = [];
        int offset = 0;
        while (true)
        {
            int take = whole ? input.Length - offset : Math.Min(random.Next(1, 9), input.Length - offset);
            pending = [.. pending, .. input.AsSpan(offset, take).ToArray()];
            offset += take;
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(pending));
            var status = data.Process(ref reader, output);
            pending = pending[(int)reader.Consumed..];
            if (status != DataReader.Status.NeedMore || offset == input.Length) return (status, output.WrittenSpan.ToArray());
        }
    }

    [Fact]
    public void Random_splits_decode_the_same_as_one_read()
    {
        var random = new Random(20261124);
        for (int round = 0; round < 2000; round++)
        {
            var sb = new StringBuilder();
            int parts = random.Next(0, 40);
            for (int i = 0; i < parts; i++) sb.Append(Pieces[random.Next(Pieces.Length)]);
            sb.Append("\r\n.\r\n");
            byte[] input = Encoding.ASCII.GetBytes(sb.ToString());

            var (wholeStatus, wholeOutput) = Feed(input, random, whole: true);
            var (splitStatus, splitOutput) = Feed(input, random, whole: false);
            Assert.Equal(DataReader.Status.Done, wholeStatus);
            Assert.Equal(wholeStatus, splitStatus);
            Assert.Equal(Encoding.ASCII.GetString(wholeOutput), Encoding.ASCII.GetString(splitOutput));
            // Whatever came in, what is stored has only CRLF line ends and no bare LF.
            Assert.DoesNotContain("\n", Encoding.ASCII.GetString(wholeOutput).Replace("\r\n", ""));
        }
    }
}
