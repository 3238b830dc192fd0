using System.Buffers;
using System.IO.Pipelines;
using System.Text;

namespace Smtpd.Mta;

/// <summary>
/// Reads a server's replies (RFC 5321 4.2: "CODE-text" lines, then "CODE text"; LMTP's are the
/// same), for the MTA's client and LMTP delivery. A line longer than <paramref name="maxLine"/>
/// bytes (its CRLF included) or a reply of more than <paramref name="maxLines"/> lines is refused
/// before it is buffered any further; reads may split a reply anywhere.
/// </summary>
public sealed class SmtpReplyReader(PipeReader input, int maxLine = SmtpReplyReader.DefaultMaxLine, int maxLines = SmtpReplyReader.DefaultMaxLines)
{
    public const int DefaultMaxLine = 16 * 1024;
    public const int DefaultMaxLines = 100;

    /// <exception cref="SmtpReplyException">Closed, a line or reply too long, or a line that is not a reply.</exception>
    public async ValueTask<SmtpReply> ReadAsync(CancellationToken ct)
    {
        var lines = new List<string>();
        while (true)
        {
            string line = await ReadLineAsync(ct);
            if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), out int code) || code < 200 || code > 599)
                throw new SmtpReplyException(SmtpReplyProblem.Invalid, line);
            lines.Add(line);
            if (line.Length == 3 || line[3] != '-') return new SmtpReply(code, lines);
            if (lines.Count == maxLines) throw new SmtpReplyException(SmtpReplyProblem.TooManyLines, line);
        }
    }

    async ValueTask<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var result = await input.ReadAsync(ct);
            var buffer = result.Buffer;
            // The limit first: a peer that never sends LF is stopped at maxLine bytes.
            var window = buffer.Length > maxLine ? buffer.Slice(0, maxLine) : buffer;
            if (window.PositionOf((byte)'\n') is { } lf)
            {
                string line = Encoding.UTF8.GetString(buffer.Slice(0, lf)).TrimEnd('\r');
                input.AdvanceTo(buffer.GetPosition(1, lf));
                return line;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
            if (buffer.Length >= maxLine) throw new SmtpReplyException(SmtpReplyProblem.LineTooLong, "");
            if (result.IsCompleted) throw new SmtpReplyException(SmtpReplyProblem.Closed, "");
        }
    }
}
