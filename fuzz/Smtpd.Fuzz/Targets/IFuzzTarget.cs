namespace Smtpd.Fuzz;

/// <summary>
/// One fuzz target: runs one input through the code under test. Documented rejections of bad
/// input are caught; anything else (an unexpected exception, or a broken invariant reported as
/// <see cref="BrokenInvariantException"/>) escapes, and afl-fuzz records the input as a crash.
/// </summary>
public interface IFuzzTarget
{
    /// <summary>The name <c>fuzz/run.sh</c> and the corpus folders use, e.g. "smtp-command".</summary>
    string Name { get; }

    void Run(byte[] input);
}
