using System.Globalization;
using System.Text;
using Smtpd.Queue;

namespace Smtpd.Mta.TlsPolicy.Sts;

/// <summary>
/// MTA-STS policies kept in the spool (<c>mta-sts/DOMAIN</c>), so that a policy outlives a
/// restart and an outage of the DNS or the policy's web server (RFC 8461 5.1: a cached policy
/// holds until its max_age runs out, even when the TXT record is gone). Each file holds the TXT
/// id the policy was fetched under, when it was fetched, and the policy text. Written whole to a
/// temporary file and renamed over the old one. Without a spool (tests of the MTA alone), kept
/// in memory.
/// </summary>
public sealed class StsCache(string? spool)
{
    public sealed record Entry(string Id, DateTimeOffset Fetched, string Text, StsPolicy Policy)
    {
        public bool FreshAt(DateTimeOffset now) => now < Fetched + Policy.MaxAge;
    }

    readonly Dictionary<string, Entry> _memory = new(StringComparer.OrdinalIgnoreCase);
    readonly object _lock = new();
    /// <summary>
    /// The domains that have a file, listed once: most domains mail goes to publish no policy,
    /// and asking the disk for each of them on every route (a failed open, an exception) would
    /// put I/O on the delivery path for nothing. Only this process writes the directory.
    /// </summary>
    HashSet<string>? _onDisk;

    string? Directory => spool is null ? null : Path.Combine(spool, "mta-sts");

    public Entry? Get(string domain)
    {
        lock (_lock)
        {
            if (_memory.TryGetValue(domain, out var known)) return known;
            if (Directory is not { } dir || !OnDisk(dir).Contains(domain)) return null;
            string file = Path.Combine(dir, domain.ToLowerInvariant());
            string text;
            try { text = File.ReadAllText(file); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
            var entry = Parse(text);
            if (entry is not null) _memory[domain] = entry;
            return entry;
        }
    }

    public void Put(string domain, Entry entry)
    {
        lock (_lock)
        {
            _memory[domain] = entry;
            if (Directory is not { } dir) return;
            SpoolModes.EnsureDirectory(dir);
            string file = Path.Combine(dir, domain.ToLowerInvariant()), temp = file + ".tmp";
            using (var stream = new FileStream(temp, SpoolModes.NewFile(FileMode.Create)))
                stream.Write(Encoding.UTF8.GetBytes($"id: {entry.Id}\nfetched: {entry.Fetched.ToUnixTimeSeconds()}\n\n{entry.Text}"));
            File.Move(temp, file, overwrite: true);
            OnDisk(dir).Add(domain);
        }
    }

    HashSet<string> OnDisk(string dir)
    {
        if (_onDisk is not null) return _onDisk;
        _onDisk = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        try
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(dir))
                if (!file.EndsWith(".tmp", StringComparison.Ordinal)) _onDisk.Add(Path.GetFileName(file));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { } // none kept yet
        return _onDisk;
    }

    /// <summary>A cache file's entry; null when it is damaged (then the policy is fetched again).</summary>
    static Entry? Parse(string text)
    {
        int blank = text.IndexOf("\n\n", StringComparison.Ordinal);
        if (blank < 0) return null;
        var head = text[..blank].Split('\n').Select(l => l.Split(": ", 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!head.TryGetValue("id", out var id) || !head.TryGetValue("fetched", out var fetched)
            || !long.TryParse(fetched, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds)) return null;
        string body = text[(blank + 2)..];
        return StsPolicy.Parse(body, out _) is { } policy ? new Entry(id, DateTimeOffset.FromUnixTimeSeconds(seconds), body, policy) : null;
    }
}
