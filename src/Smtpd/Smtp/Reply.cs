using System.Text;

namespace Smtpd.Smtp;

/// <summary>
/// An SMTP reply: basic code, enhanced status code (RFC 3463, null when none applies, as for
/// the banner and EHLO) and text. Multi-line replies carry one text per line.
/// </summary>
public sealed class Reply
{
    readonly byte[] _encoded;

    public Reply(int code, string? enhanced, params string[] lines)
    {
        Code = code;
        Enhanced = enhanced;
        Lines = lines.Length == 0 ? [""] : lines;
        _encoded = Encoding.UTF8.GetBytes(Format());
    }

    public int Code { get; }
    public string? Enhanced { get; }
    public IReadOnlyList<string> Lines { get; }

    public bool IsPositive => Code < 400;
    public bool IsTransient => Code is >= 400 and < 500;
    public bool IsPermanent => Code >= 500;

    /// <summary>The reply as sent on the wire, CRLF-terminated, ready to write.</summary>
    public ReadOnlyMemory<byte> Bytes => _encoded;

    /// <summary>The first line without CRLF, for logs.</summary>
    public string FirstLine => Enhanced is null ? $"{Code} {Lines[0]}" : $"{Code} {Enhanced} {Lines[0]}";

    string Format()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < Lines.Count; i++)
        {
            sb.Append(Code).Append(i == Lines.Count - 1 ? ' ' : '-');
            if (Enhanced is not null) sb.Append(Enhanced).Append(' '); // RFC 2034: on every line
            sb.Append(Lines[i]).Append("\r\n");
        }
        return sb.ToString();
    }

    public override string ToString() => FirstLine;
}
