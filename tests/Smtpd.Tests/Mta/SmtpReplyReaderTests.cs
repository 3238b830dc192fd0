using System.IO.Pipelines;
using System.Text;
using Smtpd.Mta;

namespace Smtpd.Tests.Mta;

// The one reader of server replies, for the MTA client and LMTP delivery: multi-line replies,
// replies pipelined back to back, bytes arriving in any pieces, and limits that stop a peer
// that sends an endless line or an endless reply.
public sealed class SmtpReplyReaderTests
{
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    const string Two = "250-mx.example.org Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n354 go ahead\r\n";

    static async Task<List<SmtpReply>> ReadAllAsync(byte[] bytes, IEnumerable<int> cuts, int count, int maxLine = SmtpReplyReader.DefaultMaxLine)
    {
        var pipe = new Pipe();
        var reader = new SmtpReplyReader(pipe.Reader, maxLine);
        var writing = Task.Run(async () =>
        {
            int at = 0;
            foreach (int cut in cuts.Append(bytes.Length))
            {
                await pipe.Writer.WriteAsync(bytes.AsMemory(at, cut - at));
                at = cut;
                await Task.Yield();
            }
        });
        var replies = new List<SmtpReply>();
        for (int i = 0; i < count; i++) replies.Add(await reader.ReadAsync(CancellationToken.None).AsTask().WaitAsync(Bound));
        await writing;
        return replies;
    }

    static void AssertTwo(List<SmtpReply> replies)
    {
        Assert.Equal(250, replies[0].Code);
        Assert.Equal(["250-mx.example.org Hello", "250-PIPELINING", "250 SIZE 1000"], replies[0].Lines);
        Assert.Equal(["PIPELINING", "SIZE 1000"], replies[0].Extensions);
        Assert.Equal(354, replies[1].Code);
        Assert.Equal(["354 go ahead"], replies[1].Lines);
    }

    [Fact]
    public async Task A_multi_line_reply_and_the_one_pipelined_after_it_are_read_whole() =>
        AssertTwo(await ReadAllAsync(Encoding.ASCII.GetBytes(Two), [], 2));

    [Fact]
    public async Task Replies_split_anywhere_read_the_same()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Two);
        for (int cut = 1; cut < bytes.Length; cut++)
            AssertTwo(await ReadAllAsync(bytes, [cut], 2));
        // And one byte at a time.
        AssertTwo(await ReadAllAsync(bytes, Enumerable.Range(1, bytes.Length - 1), 2));
    }

    [Fact]
    public async Task A_line_over_the_limit_is_refused_without_waiting_for_its_end()
    {
        var pipe = new Pipe();
        var reader = new SmtpReplyReader(pipe.Reader, maxLine: 64);
        // 64 bytes and no LF; the writer stays open, as a peer that never ends its line.
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes("250 " + new string('x', 60)));
        var error = await Assert.ThrowsAsync<SmtpReplyException>(() => reader.ReadAsync(CancellationToken.None).AsTask().WaitAsync(Bound));
        Assert.Equal(SmtpReplyProblem.LineTooLong, error.Problem);
    }

    [Fact]
    public async Task A_line_just_under_the_limit_is_read()
    {
        string line = "250 " + new string('x', 58);   // 62 bytes, 64 with CRLF
        var replies = await ReadAllAsync(Encoding.ASCII.GetBytes(line + "\r\n"), [], 1, maxLine: 64);
        Assert.Equal(line, Assert.Single(replies[0].Lines));
    }

    [Fact]
    public async Task A_reply_with_too_many_continuation_lines_is_refused()
    {
        var pipe = new Pipe();
        var reader = new SmtpReplyReader(pipe.Reader, maxLines: 5);
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("250-more\r\n", 5))));
        var error = await Assert.ThrowsAsync<SmtpReplyException>(() => reader.ReadAsync(CancellationToken.None).AsTask().WaitAsync(Bound));
        Assert.Equal(SmtpReplyProblem.TooManyLines, error.Problem);

        // Five lines, the last one final, are within the limit.
        var ok = new Pipe();
        await ok.Writer.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("250-more\r\n", 4)) + "250 end\r\n"));
        Assert.Equal(5, (await new SmtpReplyReader(ok.Reader, maxLines: 5).ReadAsync(CancellationToken.None)).Lines.Count);
    }

    [Theory]
    [InlineData("hello\r\n", "hello")]
    [InlineData("199 too low\r\n", "199 too low")]
    [InlineData("25\r\n", "25")]
    public async Task A_line_that_is_no_reply_is_refused_with_the_line(string sent, string line)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(sent));
        var error = await Assert.ThrowsAsync<SmtpReplyException>(() => new SmtpReplyReader(pipe.Reader).ReadAsync(CancellationToken.None).AsTask().WaitAsync(Bound));
        Assert.Equal(SmtpReplyProblem.Invalid, error.Problem);
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public async Task A_connection_closed_in_the_middle_of_a_reply_is_reported_as_closed()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes("250-first\r\n250 sec"));
        await pipe.Writer.CompleteAsync();
        var error = await Assert.ThrowsAsync<SmtpReplyException>(() => new SmtpReplyReader(pipe.Reader).ReadAsync(CancellationToken.None).AsTask().WaitAsync(Bound));
        Assert.Equal(SmtpReplyProblem.Closed, error.Problem);
    }
}
