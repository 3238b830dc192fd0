namespace Smtpd.Tests.Reliability;

/// <summary>Counts what reached the maildirs under some roots, by the X-Test-Id each message carries.</summary>
public static class Deliveries
{
    /// <summary>id → number of copies found in every maildir (new/ and cur/) under <paramref name="roots"/>.</summary>
    public static Dictionary<string, int> Count(params string[] roots)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string root in roots.Where(Directory.Exists))
            foreach (string file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
            {
                string? dir = Path.GetFileName(Path.GetDirectoryName(file));
                if (dir is not ("new" or "cur")) continue;
                string? id = TestId(file);
                if (id is not null) counts[id] = counts.GetValueOrDefault(id) + 1;
            }
        return counts;
    }

    static string? TestId(string file)
    {
        try
        {
            foreach (string line in File.ReadLines(file))
            {
                if (line.Length == 0) return null; // end of the header
                if (line.StartsWith("X-Test-Id: ", StringComparison.Ordinal)) return line["X-Test-Id: ".Length..].Trim();
            }
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>Waits (bounded) until <paramref name="done"/> holds for the counts, calling <paramref name="nudge"/> between looks.</summary>
    public static async Task<Dictionary<string, int>> WaitAsync(string[] roots, Func<Dictionary<string, int>, bool> done, TimeSpan timeout, Func<Task>? nudge = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var counts = Count(roots);
            if (done(counts) || DateTime.UtcNow > deadline) return counts;
            if (nudge is not null) await nudge();
            await Task.Delay(500);
        }
    }
}
