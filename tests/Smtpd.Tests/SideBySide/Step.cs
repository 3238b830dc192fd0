namespace Smtpd.Tests.SideBySide;

/// <summary>How one reply of a dialogue is compared.</summary>
public enum StepCheck
{
    /// <summary>Code and enhanced code equal on both servers.</summary>
    Same,
    /// <summary>Basic code and the chosen words equal (for replies OpenSMTPD sends without an enhanced code).</summary>
    CodeAndWords,
    /// <summary>A deviation kept on purpose: our code and enhanced code are <see cref="Step.Expected"/> (docs/DEVIATIONS.md).</summary>
    Kept,
    /// <summary>A deviation found and reported, not fixed yet (<see cref="Step.Note"/> names the owner).</summary>
    Pending,
}

/// <summary>One command of a side-by-side dialogue and how its reply is compared. A plain string is a <see cref="StepCheck.Same"/> step.</summary>
public sealed record Step(string Send, StepCheck Check = StepCheck.Same, string? Expected = null, string? Note = null, string[]? Words = null)
{
    public static implicit operator Step(string send) => new(send);

    public static Step Kept(string send, string ours, string why) => new(send, StepCheck.Kept, ours, why);
    public static Step Pending(string send, string note) => new(send, StepCheck.Pending, Note: note);
    public static Step WithWords(string send, string note, params string[] words) => new(send, StepCheck.CodeAndWords, Note: note, Words: words);

    /// <summary>Records the comparison of this step's two replies.</summary>
    public void Compare(Comparison c, string name, string ours, string theirs)
    {
        switch (Check)
        {
            case StepCheck.Same: c.SameReply(name, ours, theirs); break;
            case StepCheck.CodeAndWords:
                c.Same(name, SmtpReply.BasicAndWords(ours, Words!), SmtpReply.BasicAndWords(theirs, Words!)); break;
            case StepCheck.Kept: c.Deviation(name + $" [{Note}]", SmtpReply.Codes(ours), Expected!, SmtpReply.Codes(theirs)); break;
            case StepCheck.Pending: c.Pending(name, SmtpReply.Codes(ours), SmtpReply.Codes(theirs), Note!); break;
        }
    }
}
