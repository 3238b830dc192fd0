using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter;

/// <summary>
/// The programs the filter tests run. They are required, not optional: <c>.ci/run</c> installs
/// them (python3, python3-dkim, dnsmasq-base, rspamd; bench/install-opensmtpd-filters.sh extracts Debian's
/// filter-dkimsign, filter-rspamd and filter-senderscore), so a missing one is a failure, never a silent skip.
/// </summary>
public static class FilterPeers
{
    public const string FilterDir = "/opt/opensmtpd-filters/usr/libexec/opensmtpd";
    public static string DkimSign => Path.Combine(FilterDir, "filter-dkimsign");
    public static string Rspamd => Path.Combine(FilterDir, "filter-rspamd");
    public static string SenderScore => Path.Combine(FilterDir, "filter-senderscore");

    /// <summary>The Python test filter, copied next to the test assembly.</summary>
    public static string TestFilter => Path.Combine(AppContext.BaseDirectory, "Filter", "test-filter.py");

    public static void Require(string path, string why)
    {
        bool found = path.Contains('/') ? File.Exists(path) : ExternalTool.Exists(path);
        Assert.True(found, $"{path} is missing ({why}): run .ci/run or bench/install-opensmtpd-filters.sh");
    }

    /// <summary>Waits (bounded) until the file has a line containing <paramref name="text"/>; returns its lines.</summary>
    public static async Task<string[]> WaitForLineAsync(string path, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            string[] lines = [];
            try { lines = File.Exists(path) ? await File.ReadAllLinesAsync(path) : []; }
            catch (IOException) { }
            if (lines.Any(l => l.Contains(text, StringComparison.Ordinal))) return lines;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"'{text}' not in {path} within {timeout}:\n{string.Join("\n", lines)}");
            await Task.Delay(50);
        }
    }
}
