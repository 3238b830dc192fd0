using System.Buffers;
using System.Text;
using Smtpd.Smtp;

namespace Smtpd.Tests.Smtp;

public class DataReaderTests
{
    static (DataReader.Status Status, string Output, DataReader Reader, long Consumed) Run(string input, long maxSize = 1 << 20, int maxLine = 1000)
    {
        var data = new DataReader(maxSize, maxLine);
        var output = new ArrayBufferWriter<byte>();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(input)));
        var status = data.Process(ref reader, output);
        return (status, Encoding.UTF8.GetString(output.WrittenSpan), data, reader.Consumed);
    }

    [Fact]
    public void Ends_at_crlf_dot_crlf_and_unstuffs_dots()
    {
        var r = Run("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n");
        Assert.Equal(DataReader.Status.Done, r.Status);
        Assert.Equal("Subject: x\r\n\r\n.leading dot\r\n", r.Output);
        Assert.Equal("Subject: x\r\n\r\n..leading dot\r\n.\r\n".Length, r.Consumed);
    }

    [Theory]
    [InlineData("body\n.\nMAIL FROM:<evil@x>\n")]
    [InlineData("body\r\n.\nMAIL FROM:<evil@x>\r\n")]
    [InlineData("body\n.\r\nMAIL FROM:<evil@x>\r\n")]
    public void Bare_lf_dot_does_not_end_data(string input)
    {
        var r = Run(input);
        Assert.Equal(DataReader.Status.NeedMore, r.Status);
        // The smuggled command stays message content, normalized to CRLF line ends.
        Assert.Contains("MAIL FROM:<evil@x>\r\n", r.Output);
        Assert.DoesNotContain("\n.\n", r.Output);
    }

    [Fact]
    public void Incomplete_line_is_left_for_the_next_read()
    {
        var r = Run("line one\r\nline tw");
        Assert.Equal(DataReader.Status.NeedMore, r.Status);
        Assert.Equal("line one\r\n", r.Output);
        Assert.Equal("line one\r\n".Length, r.Consumed);
    }

    [Fact]
    public void Too_long_line_is_reported()
    {
        Assert.Equal(DataReader.Status.LineTooLong, Run(new string('a', 2000) + "\r\n").Status);
        Assert.Equal(DataReader.Status.LineTooLong, Run(new string('a', 2000)).Status);
    }

    [Fact]
    public void Oversize_message_is_consumed_to_the_end_but_not_stored()
    {
        var r = Run("Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat("0123456789\r\n", 20)) + ".\r\n", maxSize: 100);
        Assert.Equal(DataReader.Status.Done, r.Status);
        Assert.True(r.Reader.TooBig);
        Assert.True(r.Output.Length <= 100);
    }

    [Fact]
    public void Counts_received_headers_only_in_the_header_section()
    {
        var headers = string.Concat(Enumerable.Repeat("Received: from a by b\r\n", 3));
        var r = Run(headers + "\r\nReceived: in body\r\n.\r\n");
        Assert.Equal(3, r.Reader.Hops);
        Assert.False(r.Reader.TooManyHops);

        var loop = Run(string.Concat(Enumerable.Repeat("received: x\r\n", DataReader.MaxHops + 1)) + "\r\nbody\r\n.\r\n");
        Assert.True(loop.Reader.TooManyHops);
    }
}
