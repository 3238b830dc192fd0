namespace Smtpd.Mta;

/// <summary>A reply that could not be read; each client says it in its own words.</summary>
public sealed class SmtpReplyException(SmtpReplyProblem problem, string line)
    : IOException($"SMTP reply: {problem}")
{
    public SmtpReplyProblem Problem { get; } = problem;
    /// <summary>The offending line (for <see cref="SmtpReplyProblem.Invalid"/>), as received.</summary>
    public string Line { get; } = line;
}
