using Xunit.Abstractions;

namespace Smtpd.Tests.Reliability;

/// <summary>
/// Where the reliability tests leave the figures they measured (bench/RELIABILITY.md quotes
/// them): one line per run appended to <c>SMTPD_RELIABILITY_FIGURES</c>, by default
/// smtpd-reliability.txt in the temporary directory, and the test's own output.
/// </summary>
public static class Figures
{
    public static string File => Environment.GetEnvironmentVariable("SMTPD_RELIABILITY_FIGURES") is { Length: > 0 } f
        ? f : Path.Combine(Path.GetTempPath(), "smtpd-reliability.txt");

    public static void Record(ITestOutputHelper output, string test, string figures)
    {
        string line = $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} {test}: {figures}";
        output.WriteLine(line);
        lock (typeof(Figures)) System.IO.File.AppendAllText(File, line + Environment.NewLine);
    }

    /// <summary>How many messages a test sends: its CI figure, times <c>SMTPD_RELIABILITY_SCALE</c> (the soak script raises it).</summary>
    public static int Scaled(int n) =>
        double.TryParse(Environment.GetEnvironmentVariable("SMTPD_RELIABILITY_SCALE"), System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out double scale) && scale > 0 ? Math.Max(1, (int)(n * scale)) : n;
}
