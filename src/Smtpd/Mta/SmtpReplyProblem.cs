namespace Smtpd.Mta;

/// <summary>Why <see cref="SmtpReplyReader"/> could not read a reply.</summary>
public enum SmtpReplyProblem
{
    /// <summary>The server closed the connection.</summary>
    Closed,
    /// <summary>A line longer than the limit.</summary>
    LineTooLong,
    /// <summary>More continuation lines than the limit.</summary>
    TooManyLines,
    /// <summary>A line that does not start with a reply code (200 to 599).</summary>
    Invalid,
}
