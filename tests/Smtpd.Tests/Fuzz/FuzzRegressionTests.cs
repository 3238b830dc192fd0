using Smtpd.Fuzz;

namespace Smtpd.Tests.Fuzz;

/// <summary>
/// The fuzz targets of <c>fuzz/Smtpd.Fuzz/Targets</c> (compiled into this project) run over every
/// input the fuzzer once broke them with, kept under <c>Fuzz/Regressions/TARGET/</c>, and over the
/// seed corpus of <c>fuzz/corpus/TARGET/</c>: each must end in a defined outcome, in time.
/// </summary>
public sealed class FuzzRegressionTests
{
    /// <summary>Far above what any of these inputs takes; a hang was one of the findings to guard against.</summary>
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>(folder, file name) of every input for <paramref name="target"/>, copied next to the tests.</summary>
    public static TheoryData<string, string> Inputs(string target)
    {
        var data = new TheoryData<string, string>();
        foreach (string folder in new[] { "Regressions", "Corpus" })
        {
            string dir = Path.Combine(AppContext.BaseDirectory, "Fuzz", folder, target);
            if (!Directory.Exists(dir)) continue;
            foreach (string file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add(folder, Path.GetFileName(file));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs), "smtp-command")]
    public void Smtp_command(string folder, string file) => Run("smtp-command", folder, file);

    [Theory]
    [MemberData(nameof(Inputs), "config")]
    public void Config(string folder, string file) => Run("config", folder, file);

    [Theory]
    [MemberData(nameof(Inputs), "envelope")]
    public void Envelope(string folder, string file) => Run("envelope", folder, file);

    [Theory]
    [MemberData(nameof(Inputs), "bounce-mime")]
    public void Bounce_mime(string folder, string file) => Run("bounce-mime", folder, file);

    static void Run(string name, string folder, string file)
    {
        byte[] input = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fuzz", folder, name, file));
        var target = FuzzTargets.Create(name)!;
        try
        {
            var run = Task.Run(() => target.Run(input));
            Assert.True(run.Wait(Limit), $"{file}: still running after {Limit.TotalSeconds} s");
            run.GetAwaiter().GetResult(); // the target's own exception, not an AggregateException
        }
        finally
        {
            (target as IDisposable)?.Dispose();
        }
    }
}
