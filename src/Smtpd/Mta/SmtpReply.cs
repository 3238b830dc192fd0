namespace Smtpd.Mta;

/// <summary>A reply from a remote server: code and the lines as sent (for logs and bounces).</summary>
public sealed record SmtpReply(int Code, IReadOnlyList<string> Lines)
{
    public bool IsPositive => Code is >= 200 and < 400;
    public bool IsTransient => Code is >= 400 and < 500;
    public bool IsPermanent => Code >= 500;
    public Outcome Outcome => IsPositive ? Outcome.Ok(Text) : IsPermanent ? Outcome.PermFail(Text) : Outcome.TempFail(Text);
    /// <summary>The first line, e.g. "250 2.0.0 Ok: queued as 1234".</summary>
    public string Text => Lines.Count > 0 ? Lines[0] : Code.ToString();
    /// <summary>The keywords of an EHLO reply (every line but the greeting), upper case.</summary>
    public IEnumerable<string> Extensions => Lines.Skip(1).Select(l => l.Length > 4 ? l[4..].ToUpperInvariant() : "");
}
