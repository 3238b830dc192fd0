namespace Smtpd.Filter;

/// <summary>What the filters decided at one phase (a chain's first decision other than proceed).</summary>
public abstract record FilterVerdict
{
    public sealed record Proceed : FilterVerdict;
    /// <summary>The session or transaction is spam: <c>X-Spam: Yes</c> (smtp_session.c's spelling) is added to its messages.</summary>
    public sealed record Junk : FilterVerdict;
    /// <summary>The command's parameter is replaced.</summary>
    public sealed record Rewrite(string Value) : FilterVerdict;
    /// <summary>The command is refused with this reply ("550 text").</summary>
    public sealed record Reject(string Reply) : FilterVerdict;
    /// <summary>The reply is sent and the session closed.</summary>
    public sealed record Disconnect(string Reply) : FilterVerdict;
    /// <summary>A milter discarded the message: the client is told it was accepted, nothing is queued.</summary>
    public sealed record Discard : FilterVerdict;
    /// <summary>A filter crashed, hung or misbehaved: the session cannot go on filtered.</summary>
    public sealed record Failed(string Reason) : FilterVerdict;

    public static readonly FilterVerdict Proceeding = new Proceed();
}
