using System.Collections.Concurrent;

namespace Smtpd.Config;

/// <summary>
/// Where reading a configuration takes its files from: smtpd.conf and its includes, certificates,
/// keys, CAs and DKIM keys (not tables, which the daemon reads itself). <see cref="Disk"/> reads them as we
/// are. Started as root, the daemon no longer is when it reloads, so its privileged helper reads
/// them with a <see cref="Recording"/> source and hands over what it read; the daemon then reads
/// the same configuration from that <see cref="Bundle"/>. Errors are the disk's own exceptions,
/// so that every reader reports them as it always did.
/// </summary>
public sealed class ConfigFiles
{
    readonly IReadOnlyDictionary<string, string>? _bundle;
    readonly ConcurrentDictionary<string, string>? _recorded;

    ConfigFiles(IReadOnlyDictionary<string, string>? bundle, ConcurrentDictionary<string, string>? recorded)
    {
        _bundle = bundle;
        _recorded = recorded;
    }

    /// <summary>Reads the disk, as we are.</summary>
    public static ConfigFiles Disk { get; } = new(null, null);

    /// <summary>Reads the disk and remembers each file read (<see cref="Recorded"/>).</summary>
    public static ConfigFiles Recording() => new(null, new(StringComparer.Ordinal));

    /// <summary>Answers from <paramref name="files"/> (path as the configuration names it → text);
    /// a path not in it is read from the disk.</summary>
    public static ConfigFiles Bundle(IReadOnlyDictionary<string, string> files) => new(files, null);

    /// <summary>What a recording source read, path → text: the bundle to read the same configuration again.</summary>
    public IReadOnlyDictionary<string, string> Recorded =>
        _recorded ?? throw new InvalidOperationException("not a recording configuration source");

    /// <exception cref="IOException">And the other exceptions of <see cref="File.ReadAllText(string)"/>.</exception>
    public string ReadText(string path)
    {
        if (_bundle is not null && _bundle.TryGetValue(path, out string? text)) return text;
        text = File.ReadAllText(path);
        if (_recorded is not null) _recorded[path] = text;
        return text;
    }

    public bool Exists(string path) => (_bundle?.ContainsKey(path) ?? false) || File.Exists(path);
}
